import OpenAI from "openai7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { freePort, type ReceivedCallback, startReceiver, waitFor } from "./callback-receiver.js";

/**
 * Webhook endpoints managed end to end with the official openai 7.x SDK (`client.webhooks.*`),
 * and a real receiver on loopback that verifies every delivery with the SDK's `unwrap`.
 */

const headersOf = (received: ReceivedCallback) =>
  Object.fromEntries(
    Object.entries(received.headers).map(([name, value]) => [name, String(value)]),
  );

describe("webhook endpoints through the openai 7.x SDK", () => {
  let ferry: TestServer;
  let client: OpenAI;

  beforeAll(async () => {
    ferry = await startTestServer({
      config: {
        outbound: { allowNetworks: ["127.0.0.1/32"] },
        webhooks: { retryBaseDelayMs: 50, retryMaxDelayMs: 300 },
      },
    });
    client = new OpenAI({ baseURL: `${ferry.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
  });

  afterAll(async () => {
    await ferry.close({ removeData: true });
  });

  it("creates, lists with auto-pagination, retrieves, updates, tests, rotates and deletes", async () => {
    const status = { now: 200 };
    const receiver = await startReceiver({ answer: () => status.now });
    try {
      const created = await client.webhooks.create({
        name: "orders",
        url: receiver.urlOf("/hooks"),
        event_types: ["response.completed", "batch.completed"],
      });
      expect(created).toMatchObject({
        object: "webhook_endpoint",
        name: "orders",
        url: receiver.urlOf("/hooks"),
        event_types: ["response.completed", "batch.completed"],
      });
      expect(created.id).toMatch(/^whe_/);
      expect(created.signing_secret).toMatch(/^whsec_/);
      expect(created.signing_secret_hint).toMatch(/^whsec_.{4}….{4}$/);
      expect(created.signing_secret_hint).not.toContain(created.signing_secret.slice(10, 30));

      // The secret is shown once: never again in a retrieve or a list.
      const retrieved = await client.webhooks.retrieve(created.id);
      expect(retrieved).not.toHaveProperty("signing_secret");
      expect(retrieved.signing_secret_hint).toBe(created.signing_secret_hint);

      const others = [];
      for (const name of ["second", "third"]) {
        others.push(
          await client.webhooks.create({
            name,
            url: receiver.urlOf("/hooks"),
            event_types: ["batch.failed"],
          }),
        );
      }
      const listed: string[] = [];
      for await (const endpoint of client.webhooks.list({ limit: 2 })) {
        expect(endpoint).not.toHaveProperty("signing_secret");
        listed.push(endpoint.id);
      }
      // Newest first, across two pages.
      expect(listed).toEqual([others[1]?.id, others[0]?.id, created.id]);

      // An unchanged update does not advance updated_at; a change does, and is kept.
      const unchanged = await client.webhooks.update(created.id, { name: "orders" });
      expect(unchanged.updated_at).toBe(created.updated_at);
      const updated = await client.webhooks.update(created.id, {
        event_types: ["response.completed", "response.failed"],
      });
      expect(updated.event_types).toEqual(["response.completed", "response.failed"]);
      expect((await client.webhooks.retrieve(created.id)).event_types).toEqual([
        "response.completed",
        "response.failed",
      ]);

      const tested = await client.webhooks.test(created.id, { event_type: "response.completed" });
      expect(tested).toEqual({
        object: "webhook_endpoint.test",
        webhook_endpoint_id: created.id,
        event_type: "response.completed",
        status_code: 200,
        success: true,
      });
      const sample = receiver.received.at(-1) as ReceivedCallback;
      const event = await client.webhooks.unwrap(
        sample.body,
        headersOf(sample),
        created.signing_secret,
      );
      expect(event).toMatchObject({ object: "event", type: "response.completed" });
      status.now = 503;
      const failing = await client.webhooks.test(created.id, { event_type: "batch.completed" });
      expect(failing.status_code).toBe(503);
      status.now = 200;

      // Rotation keeping the old secret: a delivery is signed with both for 24 hours.
      const rotated = await client.webhooks.rotateSecret(created.id, {
        keep_old_secret_active_for_24_hours: true,
      });
      expect(rotated.signing_secret).toMatch(/^whsec_/);
      expect(rotated.signing_secret).not.toBe(created.signing_secret);
      await client.webhooks.test(created.id, { event_type: "response.completed" });
      const bothSigned = receiver.received.at(-1) as ReceivedCallback;
      for (const secret of [created.signing_secret, rotated.signing_secret]) {
        await client.webhooks.unwrap(bothSigned.body, headersOf(bothSigned), secret);
      }
      // Without keeping it, the old secret stops verifying at once.
      const again = await client.webhooks.rotateSecret(created.id);
      await client.webhooks.test(created.id, { event_type: "response.completed" });
      const newOnly = receiver.received.at(-1) as ReceivedCallback;
      await client.webhooks.unwrap(newOnly.body, headersOf(newOnly), again.signing_secret);
      await expect(
        client.webhooks.unwrap(newOnly.body, headersOf(newOnly), rotated.signing_secret),
      ).rejects.toThrow(/signature/i);

      const types = await client.webhooks.eventTypes.list();
      expect(types.object).toBe("list");
      expect(types.data).toEqual(
        expect.arrayContaining(["response.completed", "batch.expired", "stream.item.completed"]),
      );

      for (const endpoint of [created, ...others]) {
        expect(await client.webhooks.delete(endpoint.id)).toEqual({
          id: endpoint.id,
          object: "webhook_endpoint.deleted",
          deleted: true,
        });
      }
      await expect(client.webhooks.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
      expect((await client.webhooks.list()).data).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it("delivers every event of a background response and a batch, verified by unwrap; a tampered body or an old timestamp is not", async () => {
    const receiver = await startReceiver({ answer: () => 200 });
    try {
      const endpoint = await client.webhooks.create({
        name: "all",
        url: receiver.urlOf("/hooks"),
        event_types: ["response.completed", "batch.completed"],
      });
      const response = await client.responses.create({
        model: "mock-1",
        input: "hello",
        background: true,
      });
      const first = await waitFor("the response.completed delivery", () =>
        receiver.received.find((got) => got.body.includes(response.id)),
      );
      const event = await client.webhooks.unwrap(
        first.body,
        headersOf(first),
        endpoint.signing_secret,
      );
      expect(event).toMatchObject({
        object: "event",
        type: "response.completed",
        data: { id: response.id },
      });
      expect(event.id).toMatch(/^evt_/);
      expect(first.headers["webhook-id"]).toMatch(/^wh_/);
      // The response is finished by the time its event arrives.
      expect((await client.responses.retrieve(response.id)).status).toBe("completed");

      await expect(
        client.webhooks.unwrap(
          first.body.replace(response.id, "resp_forged"),
          headersOf(first),
          endpoint.signing_secret,
        ),
      ).rejects.toThrow(/signature/i);
      const old = { ...headersOf(first), "webhook-timestamp": String(Date.now() / 1000 - 3600) };
      await expect(
        client.webhooks.unwrap(first.body, old, endpoint.signing_secret),
      ).rejects.toThrow(/too old/i);

      const file = await client.files.create({
        file: new File(
          [
            `${JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/responses", body: { model: "mock-1", input: "x" } })}\n`,
          ],
          "in.jsonl",
        ),
        purpose: "batch",
      });
      const batch = await client.batches.create({
        input_file_id: file.id,
        endpoint: "/v1/responses",
        completion_window: "24h",
      });
      const batchDelivery = await waitFor(
        "the batch.completed delivery",
        () => receiver.received.find((got) => got.body.includes(batch.id)),
        30_000,
      );
      const batchEvent = await client.webhooks.unwrap(
        batchDelivery.body,
        headersOf(batchDelivery),
        endpoint.signing_secret,
      );
      expect(batchEvent).toMatchObject({ type: "batch.completed", data: { id: batch.id } });
      await client.webhooks.delete(endpoint.id);
    } finally {
      await receiver.close();
    }
  });

  it("a receiver that is down, then answers 500s, then recovers gets every event once, each with a stable webhook-id", {
    timeout: 60_000,
  }, async () => {
    const port = await freePort();
    const endpoint = await client.webhooks.create({
      name: "flaky",
      url: `http://127.0.0.1:${port}/hooks`,
      event_types: ["response.completed"],
    });
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      const response = await client.responses.create({
        model: "mock-1",
        input: `flaky ${index}`,
        background: true,
      });
      ids.push(response.id);
    }
    // Down: every delivery's first attempt is refused, and recorded.
    await waitFor("every delivery refused once while the receiver is down", async () => {
      const page = (await (
        await fetch(`${ferry.url}/v1/webhook_deliveries?endpoint_id=${endpoint.id}&limit=100`)
      ).json()) as { data: { attempts: number; last_error: string | null }[] };
      return page.data.length === ids.length &&
        page.data.every((delivery) => delivery.attempts >= 1 && delivery.last_error !== null)
        ? true
        : undefined;
    });
    // Up, but failing: the first eight requests get a 500.
    const receiver = await startReceiver({
      port,
      answer: (_callback, index) => (index < 8 ? 500 : 200),
    });
    try {
      const delivered = await waitFor(
        "every event delivered",
        () => {
          const ok = receiver.received.filter((got) => got.answered === 200);
          return ok.length >= ids.length ? ok : undefined;
        },
        40_000,
      );
      // Let any stray retry land before counting.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const deliveredOk = receiver.received.filter((got) => got.answered === 200);
      expect(deliveredOk).toHaveLength(ids.length);
      const events = await Promise.all(
        delivered.map((got) =>
          client.webhooks.unwrap(got.body, headersOf(got), endpoint.signing_secret),
        ),
      );
      expect(events.map((event) => (event.data as { id: string }).id).sort()).toEqual(
        [...ids].sort(),
      );

      // Every attempt of one event carries the same webhook-id, and one event per id.
      const eventOfId = new Map<string, string>();
      for (const got of receiver.received) {
        const webhookId = String(got.headers["webhook-id"]);
        const eventId = (JSON.parse(got.body) as { id: string }).id;
        expect(eventOfId.get(webhookId) ?? eventId).toBe(eventId);
        eventOfId.set(webhookId, eventId);
      }
      expect(eventOfId.size).toBe(ids.length);

      // The attempts are on record: refused ones (no status), the 500s, and the 200.
      const page = (await (
        await fetch(`${ferry.url}/v1/webhook_deliveries?endpoint_id=${endpoint.id}&limit=100`)
      ).json()) as { data: { id: string; status: string }[] };
      expect(page.data).toHaveLength(ids.length);
      expect(page.data.every((delivery) => delivery.status === "delivered")).toBe(true);
      const attemptsByDelivery = await Promise.all(
        page.data.map(
          async (delivery) =>
            (await (await fetch(`${ferry.url}/v1/webhook_deliveries/${delivery.id}`)).json()) as {
              attempts: { status_code: number | null; error: string | null }[];
            },
        ),
      );
      const attempts = attemptsByDelivery.flatMap((delivery) => delivery.attempts);
      expect(attempts.some((attempt) => attempt.status_code === null)).toBe(true);
      expect(attempts.filter((attempt) => attempt.status_code === 500)).toHaveLength(8);
      expect(attempts.filter((attempt) => attempt.status_code === 200)).toHaveLength(ids.length);
    } finally {
      await receiver.close();
      await client.webhooks.delete(endpoint.id);
    }
  });

  it("answers bad input with a 400 naming the field, and writes nothing", async () => {
    const cases: { body: Record<string, unknown>; param: RegExp }[] = [
      {
        body: { name: "x", url: "http://169.254.169.254/latest", event_types: ["batch.completed"] },
        param: /^url$/,
      },
      {
        body: { name: "x", url: "http://10.0.0.1/hooks", event_types: ["batch.completed"] },
        param: /^url$/,
      },
      {
        body: { name: "x", url: "ftp://example.com/", event_types: ["batch.completed"] },
        param: /^url$/,
      },
      {
        body: { name: "x", url: "http://127.0.0.1:9/", event_types: ["fine_tuning.job.succeeded"] },
        param: /^event_types/,
      },
      { body: { name: "x", url: "http://127.0.0.1:9/", event_types: [] }, param: /^event_types/ },
      { body: { url: "http://127.0.0.1:9/", event_types: ["batch.completed"] }, param: /^name$/ },
      {
        body: {
          name: "x",
          url: "http://127.0.0.1:9/",
          event_types: ["batch.completed"],
          secret: "s",
        },
        param: /secret/,
      },
    ];
    for (const { body, param } of cases) {
      const answer = await fetch(`${ferry.url}/v1/webhook_endpoints`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      const { error } = (await answer.json()) as {
        error: { param: string | null; message: string };
      };
      expect(error.param ?? error.message, JSON.stringify(body)).toMatch(param);
    }
    expect((await client.webhooks.list()).data).toEqual([]);
    await expect(client.webhooks.update("whe_missing", { name: "y" })).rejects.toMatchObject({
      status: 404,
    });
    const rotated = await fetch(`${ferry.url}/v1/webhook_endpoints/whe_missing/rotate_secret`, {
      method: "POST",
    });
    expect(rotated.status).toBe(404);
  });
});

describe("webhook endpoints from the config file", () => {
  it("are made at start, sign with the configured secret, cannot be changed over the API, and follow the file on restart", {
    timeout: 60_000,
  }, async () => {
    const receiver = await startReceiver({ answer: () => 200 });
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const endpoint = {
      projectId: "default",
      name: "ops",
      url: receiver.urlOf("/hooks"),
      eventTypes: ["response.completed"],
      secret,
    };
    const config = (endpoints: (typeof endpoint)[]) => ({
      outbound: { allowNetworks: ["127.0.0.1/32"] },
      webhooks: { endpoints },
    });
    let ferry = await startTestServer({ config: config([endpoint]) });
    const dataDir = ferry.dataDir;
    try {
      let client = new OpenAI({ baseURL: `${ferry.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
      const [listed] = (await client.webhooks.list()).data;
      expect(listed).toMatchObject({ name: "ops", url: receiver.urlOf("/hooks") });
      expect(listed?.signing_secret_hint).toBe("whsec_MfKQ…LaSw");
      const id = listed?.id as string;

      const response = await client.responses.create({
        model: "mock-1",
        input: "configured",
        background: true,
      });
      const got = await waitFor("the delivery to the configured endpoint", () =>
        receiver.received.find((entry) => entry.body.includes(response.id)),
      );
      await client.webhooks.unwrap(got.body, headersOf(got), secret);

      for (const attempt of [
        () => client.webhooks.update(id, { name: "renamed" }),
        () => client.webhooks.rotateSecret(id),
        () => client.webhooks.delete(id),
      ]) {
        await expect(attempt()).rejects.toMatchObject({
          status: 400,
          code: "endpoint_managed_by_config",
        });
      }

      // Restarted with another event type: the same endpoint, changed.
      await ferry.close();
      ferry = await startTestServer({
        dataDir,
        config: config([{ ...endpoint, eventTypes: ["batch.completed", "response.failed"] }]),
      });
      client = new OpenAI({ baseURL: `${ferry.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
      expect((await client.webhooks.retrieve(id)).event_types).toEqual([
        "batch.completed",
        "response.failed",
      ]);
      // Restarted without it: gone.
      await ferry.close();
      ferry = await startTestServer({ dataDir, config: config([]) });
      client = new OpenAI({ baseURL: `${ferry.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
      expect((await client.webhooks.list()).data).toEqual([]);
    } finally {
      await ferry.close({ removeData: true });
      await receiver.close();
    }
  });
});

describe("an endpoint whose deliveries keep failing", () => {
  it("is disabled and reported, gets no new deliveries, and is enabled again by an update", {
    timeout: 60_000,
  }, async () => {
    const port = await freePort();
    const ferry = await startTestServer({
      config: {
        outbound: { allowNetworks: ["127.0.0.1/32"] },
        webhooks: {
          retryForMs: 300,
          retryBaseDelayMs: 50,
          retryMaxDelayMs: 100,
          disableAfterSeconds: 1,
        },
      },
    });
    try {
      const client = new OpenAI({ baseURL: `${ferry.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
      const endpoint = await client.webhooks.create({
        name: "dead",
        url: `http://127.0.0.1:${port}/hooks`,
        event_types: ["response.completed"],
      });
      const disabled = await waitFor(
        "the endpoint to be disabled",
        async () => {
          await client.responses.create({ model: "mock-1", input: "x", background: true });
          await new Promise((resolve) => setTimeout(resolve, 300));
          const now = (await client.webhooks.retrieve(endpoint.id)) as unknown as {
            disabled_at: number | null;
            disabled_reason: string | null;
          };
          return now.disabled_at === null ? undefined : now;
        },
        30_000,
      );
      expect(disabled.disabled_reason).toMatch(/failed/);
      const deliveriesNow = async () =>
        (
          (await (
            await fetch(`${ferry.url}/v1/webhook_deliveries?endpoint_id=${endpoint.id}&limit=100`)
          ).json()) as { data: unknown[] }
        ).data.length;
      const before = await deliveriesNow();
      const skipped = await client.responses.create({
        model: "mock-1",
        input: "after",
        background: true,
      });
      await waitFor("the response to complete", async () =>
        (await client.responses.retrieve(skipped.id)).status === "completed" ? true : undefined,
      );
      expect(await deliveriesNow()).toBe(before);

      const enabled = (await client.webhooks.update(endpoint.id, {
        url: `http://127.0.0.1:${port}/other`,
      })) as unknown as { disabled_at: number | null };
      expect(enabled.disabled_at).toBeNull();
    } finally {
      await ferry.close({ removeData: true });
    }
  });
});
