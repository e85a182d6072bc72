import { parentPort } from "node:worker_threads";
import { coerceError } from "../lib/coerce-error.js";
import { createDeliverySender, type DeliveryResult } from "./send-delivery.js";
import type { SenderCommand, SenderReply } from "./sender-thread.js";

/**
 * The thread that makes webhook and callback HTTP attempts (see sender-thread.ts): the same
 * sender as in-process (outbound checks, no redirects, capped answers, mTLS), on its own event
 * loop and core.
 */
const port = parentPort;
if (port === null) {
  throw new Error("sender-worker.ts runs as a worker thread (sender-thread.ts starts it)");
}
const sender = createDeliverySender();
const inFlight = new Map<number, AbortController>();

function reply(message: SenderReply): void {
  port?.postMessage(message);
}

port.on("message", (command: SenderCommand) => {
  switch (command.type) {
    case "send": {
      const controller = new AbortController();
      inFlight.set(command.id, controller);
      sender
        .send(command.request, controller.signal)
        .catch(
          (thrown: unknown): DeliveryResult => ({
            statusCode: null,
            latencyMs: 0,
            error: `the attempt failed: ${coerceError(thrown).message}`,
            responseBody: "",
          }),
        )
        .then((result) => {
          inFlight.delete(command.id);
          reply({ type: "result", id: command.id, result });
        });
      return;
    }
    case "abort":
      inFlight.get(command.id)?.abort();
      return;
    case "close":
      sender.close().finally(() => {
        reply({ type: "closed" });
        port?.close();
      });
      return;
  }
});
