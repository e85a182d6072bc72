import { Worker } from "node:worker_threads";
import type { WebhooksConfig } from "../config.js";
import { coerceError } from "../lib/coerce-error.js";
import type { Logger, LogLevel } from "../lib/logger.js";
import type { DeliveryLane } from "./delivery-lane.js";

/**
 * The delivery lane on a thread of its own (lane-worker.ts). A delivery costs about as much CPU
 * as the background response it reports on (an HTTP request out, an answer in, its records);
 * on the event loop that serves requests and runs the executor, a busy receiver would cut
 * inference throughput by a third or more. On its own thread the lane uses another core and
 * its own database connection: it claims, sends and records exactly as a lane in a second
 * process would (leases, one-statement claims), and this side only tells it to look for work
 * after each outbox commit.
 *
 * A thread that dies (it should not) is logged and started again: what it held is leased and
 * goes back to any lane when the lease runs out.
 */

/** What the worker needs: plain data, cloned into the thread. */
export interface LaneWorkerData {
  readonly databasePath: string;
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  readonly secretsKey: string | null;
  readonly allowNetworks: readonly string[];
  readonly webhooks: WebhooksConfig;
}

export type LaneCommand =
  | { readonly type: "start" }
  | { readonly type: "wake" }
  | { readonly type: "drain"; readonly id: number }
  | { readonly type: "stop" };

export type LaneReply =
  | { readonly type: "ready" }
  | { readonly type: "drained"; readonly id: number; readonly error?: string }
  | { readonly type: "stopped" };

/** After an unexpected exit, the thread is started again this much later. */
const RESTART_DELAY_MS = 1_000;
/** How long stop() waits for the thread to hand back its deliveries before it ends it. */
const STOP_TIMEOUT_MS = 15_000;

// Built, the worker is the .js file beside this one. Run from source (tsx, vitest), it is the
// .ts file, which a thread can load only once tsx's loader is registered in it: a small
// bootstrap does that, then imports it.
const IS_SOURCE = import.meta.url.endsWith(".ts");
const WORKER_URL = new URL(IS_SOURCE ? "./lane-worker.ts" : "./lane-worker.js", import.meta.url);
const SOURCE_BOOTSTRAP = `
const { workerData } = require("node:worker_threads");
import(workerData.tsxApi)
  .then((tsx) => { tsx.register(); return import(workerData.workerUrl); })
  .catch((err) => { setImmediate(() => { throw err; }); });
`;

export function createThreadedDeliveryLane(options: {
  readonly data: LaneWorkerData;
  readonly logger: Logger;
}): DeliveryLane {
  const { data, logger } = options;
  let worker: Worker | null = null;
  let isStarted = false;
  let isStopping = false;
  let wakePending = false;
  let nextDrainId = 0;
  const drains = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let stopped: (() => void) | null = null;
  let restartTimer: NodeJS.Timeout | null = null;

  function spawn(): Worker {
    const spawned = IS_SOURCE
      ? new Worker(SOURCE_BOOTSTRAP, {
          eval: true,
          workerData: {
            ...data,
            tsxApi: import.meta.resolve("tsx/esm/api"),
            workerUrl: WORKER_URL.href,
          },
        })
      : new Worker(WORKER_URL, { workerData: data });
    spawned.on("message", (reply: LaneReply) => {
      if (reply.type === "drained") {
        const waiting = drains.get(reply.id);
        drains.delete(reply.id);
        if (reply.error === undefined) {
          waiting?.resolve();
        } else {
          waiting?.reject(new Error(reply.error));
        }
      } else if (reply.type === "stopped") {
        stopped?.();
      }
    });
    spawned.on("error", (thrown) => {
      logger.error({ err: coerceError(thrown) }, "the webhook delivery thread failed");
    });
    spawned.on("exit", (code) => {
      if (worker === spawned) {
        worker = null;
      }
      for (const waiting of drains.values()) {
        waiting.reject(new Error("the webhook delivery thread exited"));
      }
      drains.clear();
      stopped?.();
      if (!isStopping) {
        logger.error({ code }, "the webhook delivery thread exited; starting it again");
        restartTimer = setTimeout(() => {
          restartTimer = null;
          if (!isStopping) {
            worker = spawn();
            if (isStarted) {
              send({ type: "start" });
            }
          }
        }, RESTART_DELAY_MS);
        restartTimer.unref();
      }
    });
    return spawned;
  }

  function send(command: LaneCommand): void {
    worker?.postMessage(command);
  }

  function ensureWorker(): void {
    if (worker === null && restartTimer === null) {
      worker = spawn();
    }
  }

  return {
    start() {
      if (isStarted) {
        return;
      }
      isStarted = true;
      isStopping = false;
      ensureWorker();
      send({ type: "start" });
    },

    wake() {
      // Many commits in one turn: one message.
      if (wakePending || worker === null) {
        return;
      }
      wakePending = true;
      setImmediate(() => {
        wakePending = false;
        send({ type: "wake" });
      });
    },

    drain() {
      ensureWorker();
      const id = ++nextDrainId;
      return new Promise<void>((resolve, reject) => {
        drains.set(id, { resolve, reject });
        send({ type: "drain", id });
      });
    },

    async stop() {
      isStopping = true;
      isStarted = false;
      if (restartTimer !== null) {
        clearTimeout(restartTimer);
        restartTimer = null;
      }
      const running = worker;
      if (running === null) {
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn("the webhook delivery thread did not stop in time; ending it");
          void running.terminate();
        }, STOP_TIMEOUT_MS);
        stopped = () => {
          clearTimeout(timer);
          stopped = null;
          resolve();
        };
        running.postMessage({ type: "stop" } satisfies LaneCommand);
      });
      await running.terminate();
      worker = null;
    },
  };
}
