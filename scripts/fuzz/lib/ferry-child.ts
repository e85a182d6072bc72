import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const START_TIMEOUT_MS = 30_000;
const OUTPUT_TAIL_CHARS = 6000;

/** An unhandled error the server logged (each is a 500 it answered). */
export interface LoggedError {
  readonly requestId: string | null;
  readonly message: string;
  readonly stack: string;
}

export interface FerryChild {
  readonly url: string;
  readonly pid: number;
  /** Unhandled errors logged so far. */
  readonly errors: LoggedError[];
  /** Every log line at level error or fatal so far (unhandled errors included). */
  readonly errorLines: string[];
  /** The last few kB it printed (its crash report, if it crashed). */
  outputTail(): string;
  /** The exit code once it has exited, else undefined. */
  exitCode(): number | null | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * `ferry serve` from source in a child process on a free loopback port (PORT=0), as a user runs
 * it: the fuzzer never shares its event loop, and a crash shows as an exit rather than taking
 * the fuzzer down with it.
 */
export async function startFerryChild(env: Record<string, string>): Promise<FerryChild> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "serve"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      PORT: "0",
      HOST: "127.0.0.1",
      FERRY_LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Never leave the server behind, however the fuzzer ends.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const errors: LoggedError[] = [];
  const errorLines: string[] = [];
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      exitCode = code;
      process.removeListener("exit", killOnExit);
      resolve(code);
    });
  });

  let pending = "";
  let tail = "";
  let onListening: ((url: string) => void) | null = null;
  const readLines = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
    pending += chunk.toString();
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      const listening = /ferry listening on (http:\/\/[^\s"]+)/.exec(line);
      if (listening?.[1] !== undefined) {
        onListening?.(listening[1]);
      }
      if (/^\{"level":(50|60)/.test(line)) {
        errorLines.push(line.slice(0, 2000));
      }
      if (line.includes('"unhandled error"')) {
        try {
          const entry = JSON.parse(line) as {
            requestId?: string;
            err?: { message?: string; stack?: string };
          };
          errors.push({
            requestId: entry.requestId ?? null,
            message: entry.err?.message ?? "(no message)",
            stack: entry.err?.stack ?? "",
          });
        } catch {
          errors.push({ requestId: null, message: line.slice(0, 500), stack: "" });
        }
      }
    }
  };
  child.stdout?.on("data", readLines);
  child.stderr?.on("data", (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
  });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`ferry did not start within ${START_TIMEOUT_MS} ms:\n${tail}`)),
      START_TIMEOUT_MS,
    );
    onListening = (listeningUrl) => {
      clearTimeout(timer);
      resolve(listeningUrl);
    };
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`ferry exited (${code}) before listening:\n${tail}`));
    });
  });
  if (child.pid === undefined) {
    throw new Error("spawn gave no pid");
  }
  return {
    url,
    pid: child.pid,
    errors,
    errorLines,
    exitCode: () => exitCode,
    outputTail: () => tail,
    async stop(graceMs = 10_000) {
      if (exitCode !== undefined) {
        return exitCode;
      }
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
