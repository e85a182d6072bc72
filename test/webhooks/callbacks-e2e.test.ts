import { randomBytes } from "node:crypto";
import { request as httpsRequest } from "node:https";
import path from "node:path";
import Database from "better-sqlite3";
import OpenAI from "openai7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { createTestPki, type TestPki } from "../helpers/test-pki.js";
import {
  type CallbackReceiver,
  freePort,
  type ReceivedCallback,
  startReceiver,
  waitFor,
} from "./callback-receiver.js";

/**
 * Per-request callbacks end to end: a real ferry server on 127.0.0.1, real receivers (node:http,
 * node:https with a test CA) and the official SDK's signature check. What a client sees: the
 * finished object arrives with its credentials, signed, once delivered; what ferry refuses is
 * refused before anything is written or dialled.
 */

interface DeliveryJson {
  id: string;
  callback_subject_id: string | null;
  url: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
}

interface DeliveryDetailJson extends Omit<DeliveryJson, "attempts"> {
  attempt_count: number;
  attempts: { attempt: number; status_code: number | null; error: string | null }[];
}

const LOOPBACK = { outbound: { allowNetworks: ["127.0.0.1/32"] } };
const sdk = new OpenAI({ apiKey: "unused", baseURL: "http://127.0.0.1:9/v1" });
const newSecret = () => `whsec_${randomBytes(32).toString("base64")}`;

async function json<T>(res: Response | Promise<Response>, status = 200): Promise<T> {
  const resolved = await res;
  const text = await resolved.text();
  expect(resolved.status, text).toBe(status);
  return JSON.parse(text) as T;
}

function post(s: TestServer, route: string, body: unknown): Promise<Response> {
  return fetch(`${s.url}${route}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function backgroundWithCallback(
  s: TestServer,
  callback: Record<string, unknown>,
  input = "hello",
): Promise<string> {
  const created = await json<{ id: string; status: string }>(
    post(s, "/v1/responses", { model: "gpt-4o-mini", input, background: true, ...callback }),
  );
  expect(created.status).toBe("queued");
  return created.id;
}

async function deliveryOf(s: TestServer, subjectId: string): Promise<DeliveryJson | undefined> {
  const page = await json<{ data: DeliveryJson[] }>(
    fetch(`${s.url}/v1/webhook_deliveries?limit=100`),
  );
  return page.data.find((delivery) => delivery.callback_subject_id === subjectId);
}

function deliveryDetail(s: TestServer, id: string): Promise<DeliveryDetailJson> {
  return json<DeliveryDetailJson>(fetch(`${s.url}/v1/webhook_deliveries/${id}`));
}

/** Waits until the subject's callback delivery has ended with `status`. */
function deliveryEnded(s: TestServer, subjectId: string, status: string, timeoutMs = 20_000) {
  return waitFor(
    `the callback of ${subjectId} to end ${status}`,
    async () => {
      const delivery = await deliveryOf(s, subjectId);
      return delivery?.status === status ? delivery : undefined;
    },
    timeoutMs,
  );
}

/** The requests the receiver got whose body is the object `id`. */
function callbacksFor(receiver: CallbackReceiver, id: string): ReceivedCallback[] {
  return receiver.received.filter((callback) => {
    try {
      return (JSON.parse(callback.body) as { id?: string }).id === id;
    } catch {
      return false;
    }
  });
}

describe("a basic-auth callback on a background response", () => {
  const username = "ferry-receiver";
  const password = "s3cret-pass";
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
  let s: TestServer;
  let receiver: CallbackReceiver;
  beforeAll(async () => {
    // A short give-up window, so refused credentials end `failed` within the test.
    s = await startTestServer({
      config: {
        ...LOOPBACK,
        webhooks: { retryBaseDelayMs: 50, retryMaxDelayMs: 200, retryForMs: 2_500 },
      },
    });
    receiver = await startReceiver({
      answer: (callback) => (callback.headers.authorization === expected ? 200 : 401),
    });
  });
  afterAll(async () => {
    await receiver?.close();
    await s?.close({ removeData: true });
  });

  it("delivers the finished Response once, with the credentials, signed so the SDK's unwrap accepts it", async () => {
    const secret = newSecret();
    const id = await backgroundWithCallback(s, {
      callback_url: receiver.urlOf("/done"),
      callback_auth: { kind: "basic", username, password },
      callback_secret: secret,
    });
    const delivery = await deliveryEnded(s, id, "delivered");
    const received = callbacksFor(receiver, id);
    expect(received).toHaveLength(1);
    const [callback] = received as [ReceivedCallback];
    expect(callback.answered).toBe(200);
    expect(callback.headers.authorization).toBe(expected);
    expect(callback.headers["content-type"]).toBe("application/json");
    expect(callback.webhookId).toBe(delivery.id);

    // The body is the Response as GET returns it: completed, same id.
    const body = JSON.parse(callback.body) as { id: string; object: string; status: string };
    expect(body).toMatchObject({ id, object: "response", status: "completed" });
    expect(body).toEqual(await json(fetch(`${s.url}/v1/responses/${id}`)));

    const headers = callback.headers as Record<string, string>;
    const unwrapped = (await sdk.webhooks.unwrap(callback.body, headers, secret)) as unknown;
    expect(unwrapped).toEqual(body);
    await expect(sdk.webhooks.unwrap(callback.body, headers, newSecret())).rejects.toThrow(
      /signature/,
    );
    await expect(sdk.webhooks.unwrap(`${callback.body} `, headers, secret)).rejects.toThrow(
      /signature/,
    );

    const detail = await deliveryDetail(s, delivery.id);
    expect(detail.attempt_count).toBe(1);
    expect(detail.attempts).toEqual([
      expect.objectContaining({ attempt: 1, status_code: 200, error: null }),
    ]);
  });

  it("refused credentials (401) are retried under one webhook-id until the delivery ends failed", async () => {
    const id = await backgroundWithCallback(s, {
      callback_url: receiver.urlOf("/done"),
      callback_auth: { kind: "basic", username, password: "wrong" },
    });
    const delivery = await deliveryEnded(s, id, "failed");
    expect(delivery.last_status_code).toBe(401);
    const received = callbacksFor(receiver, id);
    expect(received.length).toBeGreaterThanOrEqual(2);
    for (const callback of received) {
      expect(callback.webhookId).toBe(delivery.id);
      expect(callback.answered).toBe(401);
      expect(callback.headers.authorization).toBe(
        `Basic ${Buffer.from(`${username}:wrong`).toString("base64")}`,
      );
      // Without a callback_secret: the same ids and timestamps, no signature.
      expect(callback.headers["webhook-timestamp"]).toMatch(/^\d+$/);
      expect(callback.headers["webhook-signature"]).toBeUndefined();
    }
    const detail = await deliveryDetail(s, delivery.id);
    expect(detail.attempt_count).toBe(received.length);
    expect(detail.attempts.map((attempt) => attempt.status_code)).toEqual(received.map(() => 401));
    expect(detail.attempts.every((attempt) => /answered 401/.test(attempt.error ?? ""))).toBe(true);
  });
});

describe("an mTLS callback on a batch", () => {
  let pki: TestPki;
  let s: TestServer;
  let receiver: CallbackReceiver;
  beforeAll(async () => {
    pki = createTestPki();
    s = await startTestServer({
      config: { ...LOOPBACK, webhooks: { retryBaseDelayMs: 50, retryMaxDelayMs: 200 } },
    });
    receiver = await startReceiver({
      tls: {
        cert: pki.serverCert,
        key: pki.serverKey,
        ca: pki.caCert,
        requestCert: true,
        rejectUnauthorized: true,
      },
      answer: (callback) => (callback.clientCn === "client" ? 200 : 403),
    });
  });
  afterAll(async () => {
    await receiver?.close();
    await s?.close({ removeData: true });
  });

  function createBatch(auth: Record<string, unknown>) {
    return json<{ id: string }>(
      post(s, "/v1/batches", {
        window: "24h",
        requests: ["one", "two"].map((word) => ({
          custom_id: word,
          body: { model: "gpt-4o-mini", messages: [{ role: "user", content: word }] },
        })),
        callback_url: receiver.urlOf("/batch-done"),
        callback_auth: auth,
      }),
    );
  }

  it("presents the client certificate and delivers the finished Batch", async () => {
    const batch = await createBatch({
      kind: "mtls",
      cert: pki.clientCert,
      key: pki.clientKey,
      ca: pki.caCert,
    });
    const delivery = await deliveryEnded(s, batch.id, "delivered");
    const received = callbacksFor(receiver, batch.id);
    expect(received).toHaveLength(1);
    const [callback] = received as [ReceivedCallback];
    expect(callback.clientCn).toBe("client");
    expect(callback.answered).toBe(200);
    expect(callback.webhookId).toBe(delivery.id);
    const body = JSON.parse(callback.body) as Record<string, unknown>;
    expect(body).toMatchObject({
      id: batch.id,
      object: "batch",
      status: "completed",
      request_counts: { total: 2, completed: 2, failed: 0 },
    });
    expect(body).toEqual(await json(fetch(`${s.url}/v1/batches/${batch.id}`)));
  });

  it("the receiver refuses a client without a certificate (sanity), and one from another CA", async () => {
    const without = await new Promise<string>((resolve) => {
      const req = httpsRequest(
        receiver.urlOf("/batch-done"),
        { method: "POST", ca: pki.caCert },
        (res) => resolve(`answered ${res.statusCode}`),
      );
      req.on("error", (err) => resolve(`refused: ${err.message}`));
      req.end("{}");
    });
    expect(without).toMatch(/^refused/);

    const before = receiver.received.length;
    const connectionsBefore = receiver.connections();
    const batch = await createBatch({
      kind: "mtls",
      cert: pki.strangerCert,
      key: pki.strangerKey,
      ca: pki.caCert,
    });
    const failing = await waitFor("two refused attempts", async () => {
      const delivery = await deliveryOf(s, batch.id);
      return delivery !== undefined && delivery.attempts >= 2 ? delivery : undefined;
    });
    expect(failing.status).toBe("pending");
    expect(failing.last_status_code).toBeNull();
    expect(failing.last_error).not.toBeNull();
    // ferry did connect; the handshake, not ferry, turned it away, and no request got through.
    expect(receiver.connections()).toBeGreaterThan(connectionsBefore);
    expect(receiver.received.length).toBe(before);
  });
});

describe("SSRF: callback URLs ferry refuses", () => {
  let s: TestServer;
  let listener: CallbackReceiver;
  beforeAll(async () => {
    // No allowed networks: loopback is as forbidden as any private address.
    s = await startTestServer();
    listener = await startReceiver({ answer: () => 200 });
  });
  afterAll(async () => {
    await listener?.close();
    await s?.close({ removeData: true });
  });

  const targets = () => [
    "http://169.254.169.254/x",
    "http://10.0.0.1/x",
    // A name, resolved by the system resolver (/etc/hosts) to 127.0.0.1.
    `http://localhost:${listener.port}/x`,
    `http://127.0.0.1:${listener.port}/x`,
    `http://[::ffff:127.0.0.1]:${listener.port}/x`,
  ];

  it("refuses each with a 400 naming callback_url, writes nothing and dials nothing", async () => {
    for (const url of targets()) {
      const res = await post(s, "/v1/responses", {
        model: "gpt-4o-mini",
        input: "hello",
        background: true,
        callback_url: url,
        callback_secret: newSecret(),
      });
      const body = await json<{ error: Record<string, unknown> }>(res, 400);
      expect(body.error, url).toMatchObject({
        type: "invalid_request_error",
        param: "callback_url",
        code: "invalid_url",
      });
      expect(String(body.error.message)).toMatch(/loopback, private, link-local or reserved/);
    }
    for (const url of targets()) {
      const res = await post(s, "/v1/batches", {
        requests: [{ body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] } }],
        callback_url: url,
      });
      const body = await json<{ error: Record<string, unknown> }>(res, 400);
      expect(body.error.param, url).toBe("callback_url");
    }

    const listed = await json<{ data: unknown[] }>(fetch(`${s.url}/v1/responses`));
    expect(listed.data).toEqual([]);
    const batches = await json<{ data: unknown[] }>(fetch(`${s.url}/v1/batches`));
    expect(batches.data).toEqual([]);

    const db = new Database(path.join(s.dataDir, "ferry.db"), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      for (const table of [
        "responses",
        "batches",
        "work_items",
        "request_callbacks",
        "webhook_events",
        "webhook_deliveries",
        "webhook_delivery_attempts",
      ]) {
        const { n } = db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number };
        expect(n, table).toBe(0);
      }
    } finally {
      db.close();
    }
    expect(listener.connections()).toBe(0);
  });
});

describe("a receiver that is down, then fails, then recovers", () => {
  let s: TestServer;
  let receiver: CallbackReceiver | undefined;
  beforeAll(async () => {
    s = await startTestServer({
      config: { ...LOOPBACK, webhooks: { retryBaseDelayMs: 50, retryMaxDelayMs: 200 } },
    });
  });
  afterAll(async () => {
    await receiver?.close();
    await s?.close({ removeData: true });
  });

  it("gets every callback delivered once, each under one webhook-id across all its attempts", async () => {
    const port = await freePort();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push(
        await backgroundWithCallback(
          s,
          { callback_url: `http://127.0.0.1:${port}/hook`, callback_secret: newSecret() },
          `question ${i}`,
        ),
      );
    }
    // Nothing listens yet: every callback has been attempted and refused at least once.
    await waitFor("a refused attempt of every callback", async () => {
      const deliveries = await Promise.all(ids.map((id) => deliveryOf(s, id)));
      return deliveries.every(
        (delivery) =>
          delivery?.status === "pending" &&
          delivery.attempts >= 1 &&
          /ECONNREFUSED/.test(delivery.last_error ?? ""),
      );
    });

    const failuresFirst = 6;
    receiver = await startReceiver({
      port,
      answer: (_callback, index) => (index < failuresFirst ? 500 : 200),
    });
    const live = receiver;
    const delivered = await Promise.all(ids.map((id) => deliveryEnded(s, id, "delivered")));
    // Longer than the longest retry delay: nothing more may arrive after a 200.
    await new Promise((resolve) => setTimeout(resolve, 600));

    expect(live.received.filter((callback) => callback.answered === 500)).toHaveLength(
      failuresFirst,
    );
    for (const [index, id] of ids.entries()) {
      const delivery = delivered[index] as DeliveryJson;
      const received = callbacksFor(live, id);
      expect(new Set(received.map((callback) => callback.webhookId))).toEqual(
        new Set([delivery.id]),
      );
      expect(received.filter((callback) => callback.answered === 200)).toHaveLength(1);
      expect(received.at(-1)?.answered).toBe(200);

      const detail = await deliveryDetail(s, delivery.id);
      expect(detail.status).toBe("delivered");
      expect(detail.attempt_count).toBe(detail.attempts.length);
      const answered = detail.attempts.filter((attempt) => attempt.status_code !== null);
      const refused = detail.attempts.filter((attempt) => attempt.status_code === null);
      // Refused while nothing listened; then exactly what the receiver answered, in order.
      expect(refused.length).toBeGreaterThanOrEqual(1);
      expect(refused.every((attempt) => /ECONNREFUSED/.test(attempt.error ?? ""))).toBe(true);
      expect(answered.map((attempt) => attempt.status_code)).toEqual(
        received.map((callback) => callback.answered),
      );
      expect(detail.attempts.at(-1)).toMatchObject({ status_code: 200, error: null });
      expect(detail.attempts.map((attempt) => attempt.attempt)).toEqual(
        detail.attempts.map((_, i) => i + 1),
      );
    }
  });
});
