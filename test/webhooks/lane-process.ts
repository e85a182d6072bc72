/**
 * A delivery lane alone in a process, over a database file, for the kill -9 test
 * (delivery-crash.e2e.test.ts): `node --import tsx test/webhooks/lane-process.ts <db> <key hex> <owner>`.
 * Prints "lane started" once it runs; it is meant to be killed.
 */
import { systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { openDatabase } from "../../src/store/db.js";
import { createGroupCommit } from "../../src/store/group-commit.js";
import { createWebhookDeliveryStore } from "../../src/store/webhook-deliveries.js";
import { createDeliveryLane } from "../../src/webhooks/delivery-lane.js";
import { createDeliverySender } from "../../src/webhooks/send-delivery.js";
import { createTestDirectory } from "./delivery-directory.js";

const [databasePath, keyHex, owner] = process.argv.slice(2);
if (databasePath === undefined || keyHex === undefined || owner === undefined) {
  throw new Error("usage: lane-process.ts <db> <key hex> <owner>");
}
const db = openDatabase(databasePath);
const commit = createGroupCommit<() => void>(db.$client, (write) => write());
const lane = createDeliveryLane({
  store: createWebhookDeliveryStore(db),
  directory: createTestDirectory(db, Buffer.from(keyHex, "hex")),
  sender: createDeliverySender(),
  clock: systemClock,
  logger: createSilentLogger(),
  config: {
    maxConcurrency: 8,
    maxConcurrencyPerHost: 8,
    timeoutMs: 2_000,
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 100,
    maxResponseBytes: 1024,
  },
  policy: { allowNetworks: ["127.0.0.0/8"] },
  commitSoon: (write) => commit.add(write),
  owner,
  leaseMs: 3_000,
});
lane.start();
console.log("lane started");
setInterval(() => {}, 60_000);
