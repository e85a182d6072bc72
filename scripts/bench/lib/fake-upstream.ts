import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type ChildServer, startChildServer } from "./child-server.js";
import type { FakeUpstreamStats } from "./fake-upstream-server.js";
import { findFreePort } from "./free-port.js";

export type { FakeUpstreamStats };

/** How the fake behaves (see fake-upstream-server.ts); every field defaults to "not at all". */
export interface FakeUpstreamOptions {
  readonly latencyMs?: number;
  readonly knee?: number;
  readonly rejectAbove?: number;
  readonly prefixCacheK?: number;
  readonly prefixHitFactor?: number;
}

export interface FakeUpstream extends ChildServer {
  stats(): Promise<FakeUpstreamStats>;
  resetStats(): Promise<void>;
}

/**
 * Starts lib/fake-upstream-server.ts in its own node process on a free port: ferry's `openai`
 * backend and the bench's direct calls then reach it the same way, over a socket.
 * Its `url` is the origin; the OpenAI base URL is `${url}/v1`.
 */
export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const port = await findFreePort();
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), "fake-upstream-server.ts");
  const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  const env: Record<string, string> = { PORT: String(port), HOST: "127.0.0.1" };
  const settings: [string, number | undefined][] = [
    ["LATENCY_MS", options.latencyMs],
    ["KNEE", options.knee],
    ["REJECT_ABOVE", options.rejectAbove],
    ["PREFIX_CACHE_K", options.prefixCacheK],
    ["PREFIX_HIT_FACTOR", options.prefixHitFactor],
  ];
  for (const [name, value] of settings) {
    if (value !== undefined) {
      env[name] = String(value);
    }
  }
  const child = await startChildServer({
    name: "fake-upstream",
    command: process.execPath,
    args: ["--import", tsxLoader, entry],
    env,
    url: `http://127.0.0.1:${port}`,
    healthPath: "/health",
  });
  return {
    ...child,
    async stats() {
      const response = await fetch(`${child.url}/stats`);
      return (await response.json()) as FakeUpstreamStats;
    },
    async resetStats() {
      await (await fetch(`${child.url}/stats/reset`, { method: "POST" })).arrayBuffer();
    },
  };
}
