import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type ChildServer, startChildServer } from "./child-server.js";
import { findFreePort } from "./free-port.js";

/**
 * Starts lib/fake-upstream-server.ts in its own node process on a free port: ferry's `openai`
 * backend and the bench's direct calls then reach it the same way, over a socket.
 * Its `url` is the origin; the OpenAI base URL is `${url}/v1`.
 */
export async function startFakeUpstream(): Promise<ChildServer> {
  const port = await findFreePort();
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), "fake-upstream-server.ts");
  const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  return startChildServer({
    name: "fake-upstream",
    command: process.execPath,
    args: ["--import", tsxLoader, entry],
    env: { PORT: String(port), HOST: "127.0.0.1" },
    url: `http://127.0.0.1:${port}`,
    healthPath: "/health",
  });
}
