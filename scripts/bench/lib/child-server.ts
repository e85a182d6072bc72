import { type ChildProcess, spawn } from "node:child_process";

/**
 * A server under test, run as a child process so the load generator never shares its event loop.
 * Every child is tracked here and killed when the bench process exits, however it exits.
 */

export interface ChildServerOptions {
  /** Short label for messages, e.g. "ferry" or "bare-hono". */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  /** Base URL the server will answer on, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** Path polled until it answers 2xx. */
  readonly healthPath: string;
  readonly startTimeoutMs?: number;
}

export interface ChildServer {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<ChildProcess>();
let isExitHookInstalled = false;

// 'exit' handlers must be synchronous; kill() is, so no child outlives the bench even when it
// throws or is interrupted. Ctrl-C goes to the whole process group anyway; this covers the rest.
function installExitHook(): void {
  if (isExitHookInstalled) {
    return;
  }
  isExitHookInstalled = true;
  process.on("exit", () => {
    for (const child of running) {
      child.kill("SIGKILL");
    }
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => process.exit(signal === "SIGINT" ? 130 : 143));
  }
}

// What a child printed last, for the error message when it dies or never gets healthy.
const OUTPUT_TAIL_CHARS = 4000;

export async function startChildServer(options: ChildServerOptions): Promise<ChildServer> {
  installExitHook();
  const startTimeoutMs = options.startTimeoutMs ?? 15_000;
  const child = spawn(options.command, options.args, {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
    });
  });

  const stop = async (graceMs = 5000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };

  try {
    await waitForHealth(`${options.url}${options.healthPath}`, startTimeoutMs, exited);
  } catch (err) {
    await stop(1000);
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`${options.name} did not start: ${reason}\n--- its output ---\n${output}`);
  }
  if (child.pid === undefined) {
    throw new Error(`${options.name}: spawn gave no pid`);
  }
  return { name: options.name, url: options.url, pid: child.pid, stop };
}

async function waitForHealth(
  healthUrl: string,
  timeoutMs: number,
  exited: Promise<number | null>,
): Promise<void> {
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new Error(`exited with code ${exitCode} before answering ${healthUrl}`);
    }
    try {
      const res = await fetch(healthUrl, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) {
        return;
      }
    } catch {
      // Not listening yet: keep polling.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no 2xx from ${healthUrl} within ${timeoutMs} ms`);
}
