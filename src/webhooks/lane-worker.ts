import { parentPort, workerData } from "node:worker_threads";
import { systemClock } from "../lib/clock.js";
import { coerceError } from "../lib/coerce-error.js";
import { createLogger } from "../lib/logger.js";
import { openDatabase } from "../store/db.js";
import { createGroupCommit } from "../store/group-commit.js";
import { createRequestCallbackStore } from "../store/request-callbacks.js";
import { createWebhookDeliveryStore } from "../store/webhook-deliveries.js";
import { createWebhookEndpointStore } from "../store/webhook-endpoints.js";
import { createCallbacks } from "./callbacks.js";
import { createDeliveryLane } from "./delivery-lane.js";
import { createWebhookEndpoints } from "./endpoints.js";
import type { LaneCommand, LaneReply, LaneWorkerData } from "./lane-thread.js";
import { createSecretBox, loadSecretsKey, type SecretBox } from "./secret-box.js";
import { createDeliverySender } from "./send-delivery.js";

/**
 * The delivery lane's thread (see lane-thread.ts): its own database connection, connection
 * pools and event loop, so sending webhooks never takes the inference path's CPU. Everything it
 * reads and writes goes through the database, exactly as a lane in another process would.
 */
const data = workerData as LaneWorkerData;
const port = parentPort;
if (port === null) {
  throw new Error("lane-worker.ts runs as a worker thread (lane-thread.ts starts it)");
}
const db = openDatabase(data.databasePath);
const logger = createLogger(data.logLevel).child({ thread: "webhooks" });
const policy = { allowNetworks: data.allowNetworks };
let secretBox: SecretBox | null = null;
const box = () => {
  secretBox ??= createSecretBox(
    loadSecretsKey({ envKey: data.secretsKey ?? undefined, dataDir: data.dataDir }),
  );
  return secretBox;
};
const sender = createDeliverySender();
const endpoints = createWebhookEndpoints({
  store: createWebhookEndpointStore(db),
  box,
  clock: systemClock,
  logger,
  policy,
  sender,
  config: data.webhooks,
});
const callbacks = createCallbacks({ store: createRequestCallbackStore(db), box, policy });
const commits = createGroupCommit<() => void>(db.$client, (write) => write());

/**
 * This thread's writes compete for SQLite's one write lock with the server's own, and a writer
 * that finds it taken sleeps (the busy timeout) for a millisecond or more: on the event loop that
 * serves requests, too. So the lane writes in few, larger transactions: outcomes are gathered for
 * WRITE_WINDOW_MS and committed together, and wake-ups (each a claim) come at most that often.
 * A delivery is reported that much later; nothing else changes.
 */
const WRITE_WINDOW_MS = 10;
let gathered: { write: () => void; resolve: () => void; reject: (err: Error) => void }[] = [];
let gatherTimer: NodeJS.Timeout | null = null;
function commitGathered(): void {
  gatherTimer = null;
  const group = gathered;
  gathered = [];
  commits
    .add(() => {
      for (const entry of group) {
        entry.write();
      }
    })
    .then(
      () => {
        for (const entry of group) {
          entry.resolve();
        }
      },
      (thrown: unknown) => {
        for (const entry of group) {
          entry.reject(coerceError(thrown));
        }
      },
    );
}
function commitSoon(write: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    gathered.push({ write, resolve, reject });
    if (gatherTimer === null) {
      gatherTimer = setTimeout(commitGathered, WRITE_WINDOW_MS);
    }
  });
}
let wakeTimer: NodeJS.Timeout | null = null;
function wakeSoon(): void {
  if (wakeTimer === null) {
    wakeTimer = setTimeout(() => {
      wakeTimer = null;
      lane.wake();
    }, WRITE_WINDOW_MS);
  }
}
const lane = createDeliveryLane({
  store: createWebhookDeliveryStore(db),
  directory: {
    ...endpoints.directory,
    hasCallback: (subjectId) => callbacks.hasCallback(subjectId),
    callbackOf: (subjectId) => callbacks.callbackOf(subjectId),
  },
  sender,
  clock: systemClock,
  logger,
  config: data.webhooks,
  policy,
  commitSoon,
});

function reply(message: LaneReply): void {
  port?.postMessage(message);
}

port.on("message", (command: LaneCommand) => {
  switch (command.type) {
    case "start":
      lane.start();
      return;
    case "wake":
      wakeSoon();
      return;
    case "drain":
      lane.drain().then(
        () => reply({ type: "drained", id: command.id }),
        (thrown: unknown) =>
          reply({ type: "drained", id: command.id, error: coerceError(thrown).message }),
      );
      return;
    case "stop":
      lane
        .stop()
        .then(() => sender.close())
        .catch((thrown: unknown) =>
          logger.error({ err: coerceError(thrown) }, "stopping the delivery lane failed"),
        )
        .finally(() => {
          db.$client.close();
          reply({ type: "stopped" });
          port?.close();
        });
      return;
  }
});
reply({ type: "ready" });
