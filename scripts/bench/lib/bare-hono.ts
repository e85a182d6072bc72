import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type ChildServer, startChildServer } from "./child-server.js";
import { findFreePort } from "./free-port.js";

/** Starts lib/bare-hono-server.ts in its own node process (through tsx's loader) on a free port. */
export async function startBareHono(): Promise<ChildServer> {
  const port = await findFreePort();
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), "bare-hono-server.ts");
  // tsx only transpiles at load time; once running, the handler is the same JS plain node runs.
  const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  return startChildServer({
    name: "bare-hono",
    command: process.execPath,
    args: ["--import", tsxLoader, entry],
    env: { PORT: String(port), HOST: "127.0.0.1" },
    url: `http://127.0.0.1:${port}`,
    healthPath: "/health",
  });
}
