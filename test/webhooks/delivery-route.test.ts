import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createGroupCommit } from "../../src/store/group-commit.js";
import { createWebhookDeliveryStore } from "../../src/store/webhook-deliveries.js";
import { createOutbox } from "../../src/webhooks/create-outbox.js";
import { createDeliveryLane } from "../../src/webhooks/delivery-lane.js";
import { createDeliverySender } from "../../src/webhooks/send-delivery.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";
import { createTestDirectory } from "./delivery-directory.js";

// biome-ignore lint/suspicious/noExplicitAny: wire objects, checked field by field below
type Wire = any;
let t: TestContext | null = null;
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) {
    await close();
  }
  await t?.close();
  t = null;
});

/** Deliveries in `default` (one that took a 500 then a 200, one that cannot connect) and another project. */
async function seed() {
  t = createTestContext();
  const db = t.db;
  let answered = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      answered += 1;
      response.writeHead(answered === 1 ? 500 : 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const directory = createTestDirectory(db);
  const up = directory.addEndpoint({ projectId: "default", url: `http://127.0.0.1:${port}/up` });
  // Port 9 (discard) has nothing listening here: attempts fail, the delivery stays pending.
  const down = directory.addEndpoint({ projectId: "default", url: "http://127.0.0.1:9/down" });
  directory.addEndpoint({ projectId: "proj_other", url: `http://127.0.0.1:${port}/other` });
  const store = createWebhookDeliveryStore(db);
  const commit = createGroupCommit<() => void>(db.$client, (write) => write());
  const sender = createDeliverySender();
  closers.push(() => sender.close());
  const lane = createDeliveryLane({
    store,
    directory,
    sender,
    clock: systemClock,
    logger: createSilentLogger(),
    config: {
      maxConcurrency: 1,
      maxConcurrencyPerHost: 1,
      timeoutMs: 2_000,
      retryBaseDelayMs: 1,
      retryMaxDelayMs: 60_000,
      maxResponseBytes: 100,
    },
    policy: { allowNetworks: ["127.0.0.0/8"] },
    commitSoon: (write) => commit.add(write),
  });
  const outbox = createOutbox({
    store,
    directory,
    clock: systemClock,
    retryForMs: 3_600_000,
    onNotify: () => {},
  });
  db.$client.transaction(() => {
    outbox.record({
      projectId: "default",
      type: "response.completed",
      subjectId: "resp_1",
      createdAt: 1,
    });
    outbox.record({
      projectId: "proj_other",
      type: "response.completed",
      subjectId: "resp_2",
      createdAt: 1,
    });
  })();
  // Two rounds: the first 500 is retried at once (1 ms backoff).
  await lane.drain();
  await new Promise((resolve) => setTimeout(resolve, 20));
  await lane.drain();
  return { up, down };
}

describe("GET /v1/webhook_deliveries", () => {
  it("lists a project's deliveries newest first, filtered, with a cursor", async () => {
    const { up, down } = await seed();
    const context = t as TestContext;
    const all = (await (await context.get("/v1/webhook_deliveries")).json()) as Wire;
    expect(all).toMatchObject({ object: "list", has_more: false });
    expect(all.data).toHaveLength(2);
    const byEndpoint = Object.fromEntries(
      all.data.map((row: { endpoint_id: string }) => [row.endpoint_id, row]),
    );
    expect(byEndpoint[up.id]).toMatchObject({
      object: "webhook_delivery",
      status: "delivered",
      attempts: 2,
      next_attempt_at: null,
      last_status_code: 200,
      last_error: null,
      callback_subject_id: null,
    });
    expect(byEndpoint[up.id].id).toMatch(/^wh_/);
    expect(byEndpoint[up.id].event_id).toMatch(/^evt_/);
    expect(typeof byEndpoint[up.id].delivered_at).toBe("number");
    expect(byEndpoint[down.id]).toMatchObject({
      status: "pending",
      last_status_code: null,
      delivered_at: null,
    });
    expect(byEndpoint[down.id].attempts).toBeGreaterThanOrEqual(1);
    expect(typeof byEndpoint[down.id].next_attempt_at).toBe("number");
    expect(byEndpoint[down.id].last_error).toMatch(/ECONNREFUSED/);

    const pending = (await (
      await context.get("/v1/webhook_deliveries?status=pending")
    ).json()) as Wire;
    expect(pending.data.map((row: { endpoint_id: string }) => row.endpoint_id)).toEqual([down.id]);
    const ofUp = (await (
      await context.get(`/v1/webhook_deliveries?endpoint_id=${up.id}`)
    ).json()) as Wire;
    expect(ofUp.data).toHaveLength(1);

    const first = (await (await context.get("/v1/webhook_deliveries?limit=1")).json()) as Wire;
    expect(first).toMatchObject({ has_more: true });
    const second = (await (
      await context.get(`/v1/webhook_deliveries?limit=1&after=${first.last_id}`)
    ).json()) as Wire;
    expect(second).toMatchObject({ has_more: false });
    expect(second.data[0].id).not.toBe(first.data[0].id);
    expect(new Set([first.data[0].id, second.data[0].id])).toEqual(
      new Set(all.data.map((row: { id: string }) => row.id)),
    );
  });

  it("shows one delivery with every attempt, and only the caller's project's", async () => {
    const { up } = await seed();
    const context = t as TestContext;
    const list = (await (
      await context.get(`/v1/webhook_deliveries?endpoint_id=${up.id}`)
    ).json()) as Wire;
    const id = list.data[0].id;
    const one = (await (await context.get(`/v1/webhook_deliveries/${id}`)).json()) as Wire;
    expect(one).toMatchObject({ id, status: "delivered", attempt_count: 2 });
    expect(one.attempts).toMatchObject([
      { attempt: 1, status_code: 500, error: "the receiver answered 500" },
      { attempt: 2, status_code: 200, error: null },
    ]);
    expect(typeof one.attempts[0].latency_ms).toBe("number");

    const other = context.db.$client
      .prepare(`SELECT id FROM webhook_deliveries WHERE project_id = 'proj_other'`)
      .get() as { id: string };
    const hidden = await context.get(`/v1/webhook_deliveries/${other.id}`);
    expect(hidden.status).toBe(404);
    expect(((await hidden.json()) as Wire).error.message).toMatch(/No webhook delivery found/);
  });

  it("answers 400 naming the parameter for a bad status or cursor", async () => {
    await seed();
    const context = t as TestContext;
    const badStatus = await context.get("/v1/webhook_deliveries?status=done");
    expect(badStatus.status).toBe(400);
    expect(((await badStatus.json()) as Wire).error.param).toBe("status");
    const badAfter = await context.get("/v1/webhook_deliveries?after=wh_nope");
    expect(badAfter.status).toBe(400);
    expect(((await badAfter.json()) as Wire).error.param).toBe("after");
  });
});
