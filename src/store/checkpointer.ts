import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
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
}

const DEFAULT_OPTIONS: CheckpointerOptions = {
  intervalMs: 50,
  idleIntervalMs: 1000,
  restartPages: 8192,
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
function run() {
  let result = last;
  try {
    const row = checkpoint.get();
    result = row.log + "/" + row.checkpointed;
  } catch (err) {
    // SQLITE_BUSY: another checkpoint (the event loop's backstop) is running; try next time.
    if (err.code !== "SQLITE_BUSY" && err.code !== "SQLITE_LOCKED") throw err;
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
parentPort.postMessage("ready");
run();
`;

/**
 * Starts the worker for the database behind `client` (a file, in WAL mode). In-line checkpoints
 * stay at SQLite's default until the worker has opened its connection, and return to it if the
 * worker fails, so a failed worker costs speed, never WAL growth.
 */
export function startCheckpointer(
  client: Database.Database,
  databasePath: string,
  logger: Logger,
  options: CheckpointerOptions = DEFAULT_OPTIONS,
): Checkpointer {
  client.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      driverPath: createRequire(import.meta.url).resolve("better-sqlite3"),
      databasePath,
      intervalMs: options.intervalMs,
      idleIntervalMs: options.idleIntervalMs,
    },
  });
  // The worker must not keep the process alive on its own.
  worker.unref();
  let isStopping = false;
  const useInlineCheckpoints = () => {
    if (client.open) {
      client.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    }
  };
  worker.on("message", (message) => {
    if (message === "ready" && !isStopping && client.open) {
      client.pragma(`wal_autocheckpoint = ${options.restartPages}`);
    }
  });
  worker.on("error", (err) => {
    logger.error({ err }, "the checkpoint worker failed; checkpoints run in line from now on");
    useInlineCheckpoints();
  });
  const exited = new Promise<void>((resolve) =>
    worker.once("exit", (code) => {
      if (!isStopping) {
        logger.error({ code }, "the checkpoint worker exited; checkpoints run in line from now on");
        useInlineCheckpoints();
      }
      resolve();
    }),
  );
  return {
    async close() {
      if (isStopping) {
        return exited;
      }
      isStopping = true;
      useInlineCheckpoints();
      worker.postMessage("stop");
      await exited;
    },
  };
}
