import { Worker } from "node:worker_threads";
import { coerceError } from "../lib/coerce-error.js";
import type { Logger } from "../lib/logger.js";
import type { DeliveryRequest, DeliveryResult, DeliverySender } from "./send-delivery.js";

/**
 * The delivery sender on a thread of its own (sender-worker.ts). An HTTP attempt (connection
 * pools, the request written, the answer parsed, its garbage) costs about as much CPU as the
 * background response it reports on; made on the event loop that serves requests and runs the
 * executor, deliveries cut inference throughput by two fifths. The lane stays here, on the one
 * database connection (its claims and outcomes ride the server's group commits and never wait
 * on another connection's lock); only the attempts go to the thread, as messages.
 *
 * A thread that dies (it should not) fails the attempts it had, which are retried as any failed
 * attempt is, and is started again for the next.
 */

export type SenderCommand =
  | { readonly type: "send"; readonly id: number; readonly request: DeliveryRequest }
  | { readonly type: "abort"; readonly id: number }
  | { readonly type: "close" };

export type SenderReply =
  | { readonly type: "result"; readonly id: number; readonly result: DeliveryResult }
  | { readonly type: "closed" };

/** How long close() waits for the thread to close its pools before it ends it. */
const CLOSE_TIMEOUT_MS = 5_000;

// Built, the worker is the .js file beside this one. Run from source (tsx, vitest), it is the
// .ts file, which a thread can load only once tsx's loader is registered in it: a small
// bootstrap does that, then imports it.
const IS_SOURCE = import.meta.url.endsWith(".ts");
const WORKER_URL = new URL(
  IS_SOURCE ? "./sender-worker.ts" : "./sender-worker.js",
  import.meta.url,
);
const SOURCE_BOOTSTRAP = `
const { workerData } = require("node:worker_threads");
import(workerData.tsxApi)
  .then((tsx) => { tsx.register(); return import(workerData.workerUrl); })
  .catch((err) => { setImmediate(() => { throw err; }); });
`;

function spawnWorker(): Worker {
  return IS_SOURCE
    ? new Worker(SOURCE_BOOTSTRAP, {
        eval: true,
        workerData: { tsxApi: import.meta.resolve("tsx/esm/api"), workerUrl: WORKER_URL.href },
      })
    : new Worker(WORKER_URL);
}

/**
 * A sender whose attempts run on a thread. Requests must be plain data: a policy with its own
 * `lookup` (tests inject one) cannot cross, so use the in-process sender for those.
 */
export function createThreadedSender(options: { readonly logger: Logger }): DeliverySender {
  const { logger } = options;
  let worker: Worker | null = null;
  let nextId = 0;
  const pending = new Map<number, (result: DeliveryResult) => void>();
  let closed: (() => void) | null = null;

  function failAll(why: string): void {
    for (const resolve of pending.values()) {
      resolve({ statusCode: null, latencyMs: 0, error: why, responseBody: "" });
    }
    pending.clear();
  }

  function workerNow(): Worker {
    if (worker !== null) {
      return worker;
    }
    const spawned = spawnWorker();
    // Idle, it must not keep the process alive; while attempts are out, they do.
    spawned.unref();
    spawned.on("message", (reply: SenderReply) => {
      if (reply.type === "result") {
        const resolve = pending.get(reply.id);
        pending.delete(reply.id);
        resolve?.(reply.result);
        if (pending.size === 0) {
          spawned.unref();
        }
      } else {
        closed?.();
      }
    });
    spawned.on("error", (thrown) => {
      logger.error({ err: coerceError(thrown) }, "the webhook sender thread failed");
    });
    spawned.on("exit", (code) => {
      if (worker === spawned) {
        worker = null;
      }
      if (pending.size > 0) {
        logger.error({ code }, "the webhook sender thread exited with attempts in flight");
        failAll("the delivery thread stopped during the attempt");
      }
      closed?.();
    });
    worker = spawned;
    return spawned;
  }

  return {
    send(request, signal) {
      if (signal?.aborted === true) {
        return Promise.resolve({
          statusCode: null,
          latencyMs: 0,
          error: "the attempt was aborted",
          responseBody: "",
        });
      }
      const thread = workerNow();
      const id = ++nextId;
      return new Promise<DeliveryResult>((resolve) => {
        const onAbort = () => thread.postMessage({ type: "abort", id } satisfies SenderCommand);
        signal?.addEventListener("abort", onAbort, { once: true });
        pending.set(id, (result) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(result);
        });
        thread.ref();
        thread.postMessage({ type: "send", id, request } satisfies SenderCommand);
      });
    },

    async close() {
      const running = worker;
      if (running === null) {
        return;
      }
      running.ref();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => void running.terminate(), CLOSE_TIMEOUT_MS);
        closed = () => {
          clearTimeout(timer);
          closed = null;
          resolve();
        };
        running.postMessage({ type: "close" } satisfies SenderCommand);
      });
      await running.terminate();
      worker = null;
      failAll("ferry stopped during the attempt");
    },
  };
}
