import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import { coerceError } from "../lib/coerce-error.js";
import type { Logger } from "../lib/logger.js";

/**
 * WAL checkpoints on a worker thread, off the event loop.
 *
 * SQLite's default runs a checkpoint inside the commit that pushes the WAL past 1000 pages: the
 * committing thread copies those pages into the database file and waits for two fsyncs. In
 * ferry that thread is the event loop, so under a steady write load every request queued behind
 * that commit waits too (it was most of the sync benchmark's p99). Here a second connection on
 * a worker thread copies pages and syncs while the event loop keeps serving.
 *
 * A PASSIVE checkpoint on another thread cannot always catch up with a busy writer, and SQLite
 * only rewinds the WAL when a write starts after everything was copied. So the event loop keeps
 * a large auto-checkpoint as the backstop: when the WAL reaches `restartPages` it checkpoints
 * in line, right after its own commit (nothing can be appended meanwhile), which finds almost
 * every page already copied, and the next write rewinds the WAL. journal_size_limit then trims
 * the file, so the WAL stays bounded under any load.
 *
 * A worker that dies (a full disk fails its checkpoint with SQLITE_FULL, say) is started again
 * after a back-off that doubles with each death, up to `maxRestartDelayMs`, and starts over once
 * a worker has checkpointed. Meanwhile the event loop's in-line checkpoints keep the WAL bounded.
 */
export interface Checkpointer {
  /** Stops the worker; the database is left with the default in-line checkpoints. */
  close(): Promise<void>;
}

export interface CheckpointerOptions {
  /** How often the worker checkpoints while there are writes. */
  readonly intervalMs: number;
  /** The longest wait between checkpoints once nothing is being written. */
  readonly idleIntervalMs: number;
  /** WAL pages (4 KiB each) at which the event loop checkpoints in line and the WAL rewinds. */
  readonly restartPages: number;
  /** The wait before a dead worker is started again; it doubles with each death in a row. */
  readonly restartDelayMs: number;
  readonly maxRestartDelayMs: number;
  /** Runs `start` in `delayMs` and returns a cancel; tests pass their own to restart on cue. */
  readonly schedule: (start: () => void, delayMs: number) => () => void;
}

const DEFAULT_OPTIONS: CheckpointerOptions = {
  intervalMs: 50,
  idleIntervalMs: 1000,
  restartPages: 8192,
  restartDelayMs: 1000,
  maxRestartDelayMs: 60_000,
  schedule: (start, delayMs) => {
    const timer = setTimeout(start, delayMs);
    // A pending restart must not keep the process alive on its own either.
    timer.unref();
    return () => clearTimeout(timer);
  },
};
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

// The worker is plain CommonJS evaluated from this string, so it runs the same under the
// compiled server and under tsx/vitest (a .ts worker file would need a loader in the worker).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driverPath);
const db = new Database(workerData.databasePath, { fileMustExist: true });
db.pragma("busy_timeout = 1000");
const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
let timer = null;
let delayMs = workerData.intervalMs;
let last = "";
let isReady = false;
function run() {
  let result = last;
  try {
    const row = checkpoint.get();
    result = row.log + "/" + row.checkpointed;
  } catch (err) {
    // SQLITE_BUSY: another checkpoint (the event loop's backstop) is running; try next time.
    // Anything else (SQLITE_FULL) ends this worker; the main thread starts another later.
    if (err.code !== "SQLITE_BUSY" && err.code !== "SQLITE_LOCKED") throw err;
  }
  // Ready once a pass got through: a worker that cannot checkpoint never takes over.
  if (!isReady) {
    isReady = true;
    parentPort.postMessage("ready");
  }
  // Nothing written since the last pass: wait longer (an idle server stays idle), up to
  // idleIntervalMs; any new write brings the interval straight back.
  delayMs = result === last ? Math.min(delayMs * 2, workerData.idleIntervalMs) : workerData.intervalMs;
  last = result;
  timer = setTimeout(run, delayMs);
}
parentPort.on("message", (message) => {
  if (message === "stop") {
    clearTimeout(timer);
    db.close();
    parentPort.close();
  }
});
run();
`;

/**
 * Starts the worker for the database behind `client` (a file, in WAL mode). In-line checkpoints
 * stay at SQLite's default until a worker has checkpointed once, and return to it while no
 * worker runs, so a failed worker costs speed, never WAL growth.
 */
export function startCheckpointer(
  client: Database.Database,
  databasePath: string,
  logger: Logger,
  options: Partial<CheckpointerOptions> = {},
): Checkpointer {
  const settings: CheckpointerOptions = { ...DEFAULT_OPTIONS, ...options };
  client.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  let isStopping = false;
  let worker: Worker | null = null;
  let exited: Promise<void> = Promise.resolve();
  let cancelRestart: (() => void) | null = null;
  let restartDelayMs = settings.restartDelayMs;

  const useInlineCheckpoints = () => {
    if (client.open) {
      client.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    }
  };

  function restartLater(err: Error | null, code: number | null): void {
    worker = null;
    if (isStopping || !client.open) {
      return;
    }
    useInlineCheckpoints();
    const delayMs = restartDelayMs;
    restartDelayMs = Math.min(restartDelayMs * 2, settings.maxRestartDelayMs);
    logger.error(
      { err, code, restartInMs: delayMs },
      "the checkpoint worker failed; checkpoints run in line until it is restarted",
    );
    cancelRestart = settings.schedule(start, delayMs);
  }

  function start(): void {
    cancelRestart = null;
    if (isStopping || !client.open) {
      return;
    }
    let current: Worker;
    try {
      current = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          driverPath: createRequire(import.meta.url).resolve("better-sqlite3"),
          databasePath,
          intervalMs: settings.intervalMs,
          idleIntervalMs: settings.idleIntervalMs,
        },
      });
    } catch (thrown) {
      // No thread to be had now (resource limits): the same as a worker that died at once.
      restartLater(coerceError(thrown), null);
      return;
    }
    // The worker must not keep the process alive on its own.
    current.unref();
    worker = current;
    let failure: Error | null = null;
    current.on("message", (message) => {
      if (message === "ready" && !isStopping && client.open) {
        client.pragma(`wal_autocheckpoint = ${settings.restartPages}`);
        // It checkpointed: whatever stopped an earlier worker is over, and a new failure
        // starts the back-off from the beginning.
        restartDelayMs = settings.restartDelayMs;
      }
    });
    // 'error' (an uncaught exception in the worker) comes just before 'exit'.
    current.on("error", (err) => {
      failure = err;
    });
    exited = new Promise<void>((resolve) =>
      current.once("exit", (code) => {
        restartLater(failure, code);
        resolve();
      }),
    );
  }

  start();
  return {
    async close() {
      if (!isStopping) {
        isStopping = true;
        cancelRestart?.();
        cancelRestart = null;
        useInlineCheckpoints();
        // Held until it has exited: a caller awaiting close() with nothing else alive (a start
        // that failed early) must not see the process end with the await unsettled.
        worker?.ref();
        worker?.postMessage("stop");
      }
      await exited;
    },
  };
}
