import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { type ChildServer, startChildServer } from "./child-server.js";
import { findFreePort } from "./free-port.js";
import { REPO_ROOT } from "./paths.js";
import { createTempDir } from "./temp-dir.js";

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
  /** The FERRY_CONFIG file it was started with, or null. */
  readonly configFile: string | null;
}

export interface StartFerryOptions {
  /** Extra node flags, e.g. `--cpu-prof`. */
  readonly nodeArgs?: readonly string[];
  /** The compiled entry point; another build (a patched copy, an older commit) to compare. */
  readonly entry?: string;
  /**
   * The FERRY_CONFIG file's contents (snake_case, as documented in src/config.ts), written to a
   * temp file that goes with the data directory. Omitted: no file, the defaults.
   */
  readonly config?: Record<string, unknown>;
  /** More environment for the child; it wins over the defaults below (e.g. FERRY_LOG_LEVEL). */
  readonly env?: Record<string, string>;
}

/**
 * BENCH_FERRY_NODE_ARGS: node flags for every ferry a bench starts, split on spaces, e.g.
 * `--heap-prof --heap-prof-dir=/tmp/heap` or `--trace-gc`, to look into one run.
 */
function readExtraNodeArgs(): string[] {
  return (process.env.BENCH_FERRY_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "");
}

/**
 * Starts `node dist/main.js serve` on a free port with a fresh data directory (so every run starts
 * from an empty database), and removes that directory again on stop. Call buildFerry() first.
 */
export async function startFerry(options: StartFerryOptions = {}): Promise<FerryServer> {
  const port = await findFreePort();
  // <temp>/data is ferry's data directory; <temp>/ferry-config.json its FERRY_CONFIG.
  const temp = await createTempDir("ferry-bench-");
  const dataDir = path.join(temp.path, "data");
  let configFile: string | null = null;
  let server: ChildServer;
  try {
    await mkdir(dataDir);
    if (options.config !== undefined) {
      configFile = path.join(temp.path, "ferry-config.json");
      await writeFile(configFile, `${JSON.stringify(options.config, null, 2)}\n`);
    }
    server = await startChildServer({
      name: "ferry",
      command: process.execPath,
      args: [
        ...readExtraNodeArgs(),
        ...(options.nodeArgs ?? []),
        options.entry ?? DEFAULT_ENTRY,
        "serve",
      ],
      env: {
        PORT: String(port),
        HOST: "127.0.0.1",
        FERRY_DATA_DIR: dataDir,
        FERRY_LOG_LEVEL: "warn",
        // Set even when empty (ferry reads "" as unset): a FERRY_CONFIG or FERRY_API_KEYS in the
        // caller's shell must not change what is measured. Benches run in open mode.
        FERRY_CONFIG: configFile ?? "",
        FERRY_API_KEYS: "",
        ...options.env,
      },
      url: `http://127.0.0.1:${port}`,
      healthPath: "/health",
    });
  } catch (err) {
    await temp.remove();
    throw err;
  }
  return {
    ...server,
    dataDir,
    configFile,
    async stop(graceMs) {
      await server.stop(graceMs);
      await temp.remove();
    },
  };
}
