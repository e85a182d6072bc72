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
  commitSoon: (write) => commits.add(write),
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
      lane.wake();
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
