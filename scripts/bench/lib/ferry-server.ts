import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { type ChildServer, startChildServer } from "./child-server.js";
import { findFreePort } from "./free-port.js";
import { REPO_ROOT } from "./paths.js";

const BUILD_TIMEOUT_MS = 120_000;
const DEFAULT_ENTRY = path.join(REPO_ROOT, "dist", "main.js");

// Once per bench process: every bench in a run measures the same build.
let built: Promise<void> | null = null;

/**
 * Compiles src/ to dist/ with the production tsconfig, so the bench measures what `ferry serve`
 * runs in production (plain node on emitted JS), not tsx's loader.
 */
export function buildFerry(): Promise<void> {
  built ??= compileFerry();
  return built;
}

async function compileFerry(): Promise<void> {
  // The tsc entry point run with this node: `npx` would add a shell and a lookup for nothing.
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const child = spawn(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), BUILD_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`build failed (tsc -p tsconfig.build.json exited ${code}):\n${output}`);
  }
}

export interface FerryServer extends ChildServer {
  readonly dataDir: string;
}

export interface StartFerryOptions {
  /** Extra node flags, e.g. `--cpu-prof`. */
  readonly nodeArgs?: readonly string[];
  /** The compiled entry point; another build (a patched copy, an older commit) to compare. */
  readonly entry?: string;
}

/**
 * Starts `node dist/main.js serve` on a free port with a fresh data directory (so every run starts
 * from an empty database), and removes that directory again on stop. Call buildFerry() first.
 */
export async function startFerry(options: StartFerryOptions = {}): Promise<FerryServer> {
  const port = await findFreePort();
  const dataDir = await mkdtemp(path.join(tmpdir(), "ferry-bench-"));
  // If the bench dies (Ctrl-C, an uncaught error), 'exit' still runs synchronous code.
  const removeDataDir = () => rmSync(dataDir, { recursive: true, force: true });
  process.once("exit", removeDataDir);
  let server: ChildServer;
  try {
    server = await startChildServer({
      name: "ferry",
      command: process.execPath,
      args: [...(options.nodeArgs ?? []), options.entry ?? DEFAULT_ENTRY, "serve"],
      env: {
        PORT: String(port),
        HOST: "127.0.0.1",
        FERRY_DATA_DIR: dataDir,
        FERRY_LOG_LEVEL: "warn",
      },
      url: `http://127.0.0.1:${port}`,
      healthPath: "/health",
    });
  } catch (err) {
    process.off("exit", removeDataDir);
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...server,
    dataDir,
    async stop(graceMs) {
      await server.stop(graceMs);
      process.off("exit", removeDataDir);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
