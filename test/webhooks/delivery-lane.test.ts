import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai7";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { type Db, openDatabase } from "../../src/store/db.js";
import { createGroupCommit } from "../../src/store/group-commit.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { createWebhookDeliveryStore } from "../../src/store/webhook-deliveries.js";
import { createOutbox } from "../../src/webhooks/create-outbox.js";
import { createDeliveryLane, type DeliveryLaneConfig } from "../../src/webhooks/delivery-lane.js";
import type { OutboxEvent } from "../../src/webhooks/outbox.js";
import { createDeliverySender, type DeliverySender } from "../../src/webhooks/send-delivery.js";
import { createTestDirectory, type TestDirectory } from "./delivery-directory.js";

const LOOPBACK = { allowNetworks: ["127.0.0.0/8", "::1/128"] };
const sdk = new OpenAI({ apiKey: "x", baseURL: "http://127.0.0.1:9/v1" });

const FAST: DeliveryLaneConfig = {
  maxConcurrency: 16,
  maxConcurrencyPerHost: 8,
  timeoutMs: 2_000,
  retryBaseDelayMs: 1,
  retryMaxDelayMs: 20,
  maxResponseBytes: 1024,
};

interface Received {
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

/** A receiver on 127.0.0.1 whose answers the test sets; every request it read is kept. */
async function startReceiver(port = 0) {
  const received: Received[] = [];
  let answer: (request: Received, response: ServerResponse) => void = (_r, response) =>
    response.writeHead(200).end("ok");
  const server: Server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) {
      chunks.push(chunk as Buffer);
    }
    const got = {
      path: request.url ?? "",
      headers: request.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    };
    received.push(got);
    answer(got, response);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const actualPort = (server.address() as AddressInfo).port;
  return {
    received,
    port: actualPort,
    url: `http://127.0.0.1:${actualPort}/hook`,
    answerWith(fn: typeof answer) {
      answer = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface World {
  readonly db: Db;
  readonly directory: TestDirectory;
  readonly store: ReturnType<typeof createWebhookDeliveryStore>;
  readonly sender: DeliverySender;
  /** Attempts this world's lanes sent. */
  readonly sent: { count: number };
  lane(config?: Partial<DeliveryLaneConfig>, owner?: string): ReturnType<typeof createDeliveryLane>;
  outbox(retryForMs?: number): ReturnType<typeof createOutbox>;
  /** Records events in one transaction, as the services' state changes do. */
  emit(events: OutboxEvent[], retryForMs?: number): void;
  statuses(): Record<string, number>;
  rows(): { id: string; status: string; attempts: number }[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

function createWorld(databasePath = ":memory:", secretsKey?: Buffer): World {
  const db = openDatabase(databasePath);
  migrateDatabase(db);
  const directory = createTestDirectory(db, secretsKey);
  const store = createWebhookDeliveryStore(db);
  const commit = createGroupCommit<() => void>(db.$client, (write) => write());
  const realSender = createDeliverySender();
  const sent = { count: 0 };
  const sender: DeliverySender = {
    send(request, signal) {
      sent.count += 1;
      return realSender.send(request, signal);
    },
    close: () => realSender.close(),
  };
  const lanes: ReturnType<typeof createDeliveryLane>[] = [];
  cleanups.push(async () => {
    for (const lane of lanes) {
      await lane.stop();
    }
    await sender.close();
    db.$client.close();
  });
  const world: World = {
    db,
    directory,
    store,
    sender,
    sent,
    lane(config = {}, owner) {
      const lane = createDeliveryLane({
        store,
        directory,
        sender,
        clock: systemClock,
        logger: createSilentLogger(),
        config: { ...FAST, ...config },
        policy: LOOPBACK,
        commitSoon: (write) => commit.add(write),
        ...(owner === undefined ? {} : { owner }),
      });
      lanes.push(lane);
      return lane;
    },
    outbox(retryForMs = 60_000) {
      return createOutbox({
        store,
        directory,
        clock: systemClock,
        retryForMs,
        onNotify: () => {
          for (const lane of lanes) {
            lane.wake();
          }
        },
      });
    },
    emit(events, retryForMs) {
      const outbox = world.outbox(retryForMs);
      db.$client.transaction(() => {
        for (const event of events) {
          outbox.record(event);
        }
      })();
      outbox.notify();
    },
    statuses() {
      const rows = db.$client
        .prepare(`SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status`)
        .all() as { status: string; n: number }[];
      return Object.fromEntries(rows.map((row) => [row.status, row.n]));
    },
    rows() {
      return db.$client
        .prepare(`SELECT id, status, attempts FROM webhook_deliveries ORDER BY id`)
        .all() as { id: string; status: string; attempts: number }[];
    },
  };
  return world;
}

const completed = (subjectId: string, projectId = "proj_a"): OutboxEvent => ({
  projectId,
  type: "response.completed",
  subjectId,
  createdAt: 1_700_000_000,
});

const countRows = (db: Db, table: string) =>
  (db.$client.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

describe("the outbox", () => {
  it("writes nothing when no endpoint is subscribed and the subject has no callback", () => {
    const world = createWorld();
    world.directory.addEndpoint({
      projectId: "proj_a",
      url: "http://127.0.0.1:9/x",
      eventTypes: ["batch.completed"],
    });
    world.directory.addEndpoint({ projectId: "proj_b", url: "http://127.0.0.1:9/y" });
    expect(world.outbox().record(completed("resp_1"))).toBe(false);
    expect(countRows(world.db, "webhook_events")).toBe(0);
    expect(countRows(world.db, "webhook_deliveries")).toBe(0);
  });

  it("writes the event and a delivery per destination inside the caller's transaction", () => {
    const world = createWorld();
    const one = world.directory.addEndpoint({ projectId: "proj_a", url: "http://127.0.0.1:9/1" });
    world.directory.addEndpoint({ projectId: "proj_a", url: "http://127.0.0.1:9/2" });
    world.directory.addCallback({
      subjectId: "resp_1",
      projectId: "proj_a",
      url: "http://127.0.0.1:9/cb",
    });
    const outbox = world.outbox();
    const event = { ...completed("resp_1"), object: () => ({ id: "resp_1", object: "response" }) };
    // A transaction that fails after recording leaves nothing behind.
    expect(() =>
      world.db.$client.transaction(() => {
        outbox.record(event);
        throw new Error("the state change failed");
      })(),
    ).toThrow(/state change failed/);
    expect(countRows(world.db, "webhook_events")).toBe(0);
    expect(countRows(world.db, "webhook_deliveries")).toBe(0);

    world.db.$client.transaction(() => expect(outbox.record(event)).toBe(true))();
    const [eventRow] = world.db.$client.prepare(`SELECT * FROM webhook_events`).all() as {
      id: string;
      body: string;
    }[];
    expect(JSON.parse(eventRow?.body ?? "")).toEqual({
      id: eventRow?.id,
      object: "event",
      created_at: 1_700_000_000,
      type: "response.completed",
      data: { id: "resp_1" },
    });
    const deliveries = world.db.$client
      .prepare(`SELECT * FROM webhook_deliveries ORDER BY url`)
      .all() as Record<string, unknown>[];
    expect(deliveries.map((row) => [row.url, row.status, row.event_id])).toEqual([
      ["http://127.0.0.1:9/1", "pending", eventRow?.id],
      ["http://127.0.0.1:9/2", "pending", eventRow?.id],
      ["http://127.0.0.1:9/cb", "pending", eventRow?.id],
    ]);
    expect(deliveries[0]?.endpoint_id).toBe(one.id);
    expect(deliveries[0]?.body).toBeNull();
    expect(deliveries[2]?.callback_subject_id).toBe("resp_1");
    expect(JSON.parse(deliveries[2]?.body as string)).toEqual({ id: "resp_1", object: "response" });
    for (const row of deliveries) {
      expect(String(row.id)).toMatch(/^wh_/);
      expect(row.give_up_at_ms as number).toBe((row.created_at_ms as number) + 60_000);
    }
  });
});

describe("the delivery lane", () => {
  it("delivers signed events the official SDK verifies, and callbacks with their auth", async () => {
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    const world = createWorld();
    const endpoint = world.directory.addEndpoint({ projectId: "proj_a", url: receiver.url });
    world.directory.addCallback({
      subjectId: "resp_cb",
      projectId: "proj_a",
      url: `${receiver.url}/cb`,
      auth: { kind: "basic", username: "ann", password: "pw" },
    });
    const lane = world.lane();
    lane.start();
    world.emit([
      completed("resp_1"),
      { ...completed("resp_cb"), object: () => ({ id: "resp_cb", object: "response" }) },
    ]);
    await waitFor("three deliveries", () => world.statuses().delivered === 3);

    const toEndpoint = receiver.received.filter((got) => got.path === "/hook");
    expect(toEndpoint).toHaveLength(2);
    for (const got of toEndpoint) {
      const event = await sdk.webhooks.unwrap(
        got.body,
        got.headers as Record<string, string>,
        endpoint.secret,
      );
      expect(event.type).toBe("response.completed");
      expect(String(got.headers["webhook-id"])).toMatch(/^wh_/);
      expect(got.headers["content-type"]).toBe("application/json");
    }
    const [callback] = receiver.received.filter((got) => got.path === "/hook/cb");
    expect(JSON.parse(callback?.body ?? "")).toEqual({ id: "resp_cb", object: "response" });
    expect(callback?.headers.authorization).toBe(
      `Basic ${Buffer.from("ann:pw").toString("base64")}`,
    );
    // Unsigned (no secret), yet a receiver can still drop duplicates and check freshness.
    expect(callback?.headers["webhook-signature"]).toBeUndefined();
    expect(String(callback?.headers["webhook-id"])).toMatch(/^wh_/);
    expect(Number(callback?.headers["webhook-timestamp"])).toBeGreaterThan(1_700_000_000);

    const attempts = world.db.$client
      .prepare(`SELECT * FROM webhook_delivery_attempts`)
      .all() as Record<string, unknown>[];
    expect(attempts).toHaveLength(3);
    expect(attempts.every((row) => row.status_code === 200 && row.error === null)).toBe(true);
    expect(world.directory.outcomes).toEqual([
      { endpointId: endpoint.id, delivered: true },
      { endpointId: endpoint.id, delivered: true },
    ]);
  });

  it("rides out a receiver that is down, then answers 500, with the same webhook-id on every attempt", async () => {
    // A port with nothing listening, where the receiver comes up later.
    const probe = await startReceiver();
    const port = probe.port;
    await probe.close();
    const world = createWorld();
    world.directory.addEndpoint({ projectId: "proj_a", url: `http://127.0.0.1:${port}/hook` });
    const lane = world.lane({ retryBaseDelayMs: 5, retryMaxDelayMs: 40 });
    lane.start();
    const events = Array.from({ length: 20 }, (_, i) => completed(`resp_${i}`));
    world.emit(events);
    await waitFor("an attempt refused by the closed port", () =>
      world.rows().every((row) => row.attempts >= 1),
    );
    expect(world.statuses().pending).toBe(20);

    const receiver = await startReceiver(port);
    cleanups.push(receiver.close);
    let failuresLeft = 30;
    receiver.answerWith((_got, response) => {
      if (failuresLeft > 0) {
        failuresLeft -= 1;
        response.writeHead(500).end("busy");
      } else {
        response.writeHead(204).end();
      }
    });
    await waitFor("every event delivered", () => world.statuses().delivered === 20);

    const ids = world.rows().map((row) => row.id);
    const delivered = receiver.received
      .filter((_, i) => i >= 30)
      .map((got) => got.headers["webhook-id"]);
    expect(new Set(delivered)).toEqual(new Set(ids));
    // Every request carried one of the deliveries' ids: retries reuse it.
    expect(receiver.received.every((got) => ids.includes(String(got.headers["webhook-id"])))).toBe(
      true,
    );
    const statuses = world.db.$client
      .prepare(`SELECT status_code AS code, error FROM webhook_delivery_attempts ORDER BY id`)
      .all() as { code: number | null; error: string | null }[];
    expect(statuses.some((row) => row.code === null && row.error !== null)).toBe(true);
    expect(statuses.filter((row) => row.code === 500)).toHaveLength(30);
    expect(statuses.filter((row) => row.code === 204)).toHaveLength(20);
  });

  it("gives up at the end of the retry window and tells the endpoint's bookkeeping", async () => {
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    receiver.answerWith((_got, response) => response.writeHead(503).end("down"));
    const world = createWorld();
    const endpoint = world.directory.addEndpoint({ projectId: "proj_a", url: receiver.url });
    world.lane({ retryBaseDelayMs: 10, retryMaxDelayMs: 50 }).start();
    world.emit([completed("resp_1")], 1_500);
    await waitFor("the delivery to fail", () => world.statuses().failed === 1);
    const [row] = world.rows();
    expect(row?.attempts).toBeGreaterThanOrEqual(2);
    expect(receiver.received).toHaveLength(row?.attempts ?? 0);
    const stored = world.store.find("proj_a", row?.id ?? "");
    expect(stored).toMatchObject({ lastStatusCode: 503, lastError: "the receiver answered 503" });
    expect(world.directory.outcomes).toEqual([{ endpointId: endpoint.id, delivered: false }]);
  });

  it("records a timed-out attempt, and a redirect as a failure it does not follow", async () => {
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    receiver.answerWith((got, response) => {
      if (got.path === "/slow") {
        return; // never answers
      }
      if (got.path === "/hook") {
        response.writeHead(302, { location: "/elsewhere" }).end();
        return;
      }
      response.writeHead(200).end();
    });
    const world = createWorld();
    world.directory.addEndpoint({ projectId: "proj_a", url: receiver.url });
    world.directory.addEndpoint({
      projectId: "proj_a",
      url: `http://127.0.0.1:${receiver.port}/slow`,
    });
    world.lane({ timeoutMs: 200, retryBaseDelayMs: 50, retryMaxDelayMs: 50 }).start();
    world.emit([completed("resp_1")], 400);
    await waitFor("both to fail", () => world.statuses().failed === 2, 30_000);
    expect(receiver.received.some((got) => got.path === "/elsewhere")).toBe(false);
    const errors = world.db.$client
      .prepare(`SELECT DISTINCT status_code AS code, error FROM webhook_delivery_attempts`)
      .all() as { code: number | null; error: string }[];
    expect(errors).toEqual(
      expect.arrayContaining([
        { code: 302, error: "the receiver answered 302 (a redirect, which is not followed)" },
        { code: null, error: "no answer within 200 ms" },
      ]),
    );
  });

  it("cancels without sending when the endpoint was deleted or disabled since the event", async () => {
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    const world = createWorld();
    const endpoint = world.directory.addEndpoint({ projectId: "proj_a", url: receiver.url });
    world.emit([completed("resp_1")]);
    world.directory.disable(endpoint.id);
    const lane = world.lane();
    await lane.drain();
    expect(world.statuses()).toEqual({ cancelled: 1 });
    expect(receiver.received).toHaveLength(0);
    expect(world.store.find("proj_a", world.rows()[0]?.id ?? "")?.lastError).toBe(
      "the endpoint was deleted or disabled",
    );
    expect(countRows(world.db, "webhook_delivery_attempts")).toBe(0);
  });

  it("hands back what it held on stop, and a new lane delivers every one of them", async () => {
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    let isSlow = true;
    receiver.answerWith((_got, response) => {
      if (isSlow) {
        setTimeout(() => response.writeHead(200).end(), 5_000);
      } else {
        response.writeHead(200).end();
      }
    });
    const world = createWorld();
    world.directory.addEndpoint({ projectId: "proj_a", url: receiver.url });
    const first = world.lane({ maxConcurrency: 4, maxConcurrencyPerHost: 2 }, "lane_first");
    first.start();
    world.emit(Array.from({ length: 10 }, (_, i) => completed(`resp_${i}`)));
    await waitFor("two attempts in flight", () => receiver.received.length === 2);
    await first.stop();
    // Nothing was delivered, nothing is leased: all due again at once.
    const leased = world.db.$client
      .prepare(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE lease_owner IS NOT NULL`)
      .get() as { n: number };
    expect(leased.n).toBe(0);
    expect(world.statuses()).toEqual({ pending: 10 });

    isSlow = false;
    const second = world.lane({}, "lane_second");
    second.start();
    await waitFor("every event delivered", () => world.statuses().delivered === 10);
    const ids = new Set(receiver.received.map((got) => got.headers["webhook-id"]));
    expect(ids.size).toBe(10);
  });

  it("never delivers one delivery from two processes at once", async () => {
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    const inFlight = new Set<string>();
    const overlaps: string[] = [];
    const seen = new Map<string, number>();
    receiver.answerWith((got, response) => {
      const id = String(got.headers["webhook-id"]);
      if (inFlight.has(id)) {
        overlaps.push(id);
      }
      inFlight.add(id);
      seen.set(id, (seen.get(id) ?? 0) + 1);
      setTimeout(() => {
        inFlight.delete(id);
        response.writeHead(200).end();
      }, 5);
    });
    const dir = mkdtempSync(path.join(tmpdir(), "ferry-lanes-"));
    const databasePath = path.join(dir, "ferry.db");
    // Two connections to one file: two processes, each with its own lane and lease owner.
    const secretsKey = randomBytes(32);
    const one = createWorld(databasePath, secretsKey);
    const two = createWorld(databasePath, secretsKey);
    one.directory.addEndpoint({ projectId: "proj_a", url: receiver.url });
    one.lane({}, "process_one").start();
    two.lane({}, "process_two").start();
    for (let batch = 0; batch < 10; batch += 1) {
      one.emit(Array.from({ length: 30 }, (_, i) => completed(`resp_${batch}_${i}`)));
      two.emit(Array.from({ length: 10 }, (_, i) => completed(`resp_b${batch}_${i}`)));
    }
    await waitFor("every event delivered", () => one.statuses().delivered === 400, 60_000);
    expect(overlaps).toEqual([]);
    // Both took part (the claim is what keeps them apart, not one lane doing everything).
    expect(one.sent.count).toBeGreaterThan(0);
    expect(two.sent.count).toBeGreaterThan(0);
    expect(seen.size).toBe(400);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
    expect(countRows(one.db, "webhook_delivery_attempts")).toBe(400);
  });
});
