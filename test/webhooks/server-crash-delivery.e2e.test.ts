import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai7";
import { describe, it } from "vitest";
import {
  collectOutput,
  spawnFerry,
  waitForExit,
  waitForListening,
} from "../helpers/spawn-ferry.js";
import {
  type CallbackReceiver,
  freePort,
  type ReceivedCallback,
  startReceiver,
  waitFor,
} from "./callback-receiver.js";

/**
 * The whole ferry process killed with kill -9 between a background response's end (its
 * callback's delivery written in the same transaction) and that delivery's 2xx, then started
 * again on the same data dir: the callback still arrives, under the same webhook-id, and ends
 * delivered once. Killed mid-attempt (the receiver got the request, had not answered), the
 * same webhook-id arrives again after the dead process's lease runs out: at least once.
 */

const sdk = new OpenAI({ apiKey: "unused", baseURL: "http://127.0.0.1:9/v1" });
/** What a test started, undone when it ends (the tests run at once, so each keeps its own). */
type Cleanups = (() => Promise<unknown> | unknown)[];

function cleanupsOf(onTestFinished: (fn: () => Promise<void>) => void): Cleanups {
  const cleanups: Cleanups = [];
  onTestFinished(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup();
    }
  });
  return cleanups;
}

interface DeliveryJson {
  id: string;
  event_id: string;
  endpoint_id: string | null;
  callback_subject_id: string | null;
  status: string;
  attempts: number;
  last_error: string | null;
}

interface Ferry {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: () => string;
}

/** A ferry server process over `dataDir`, with this webhooks config. */
async function startFerry(
  cleanups: Cleanups,
  dataDir: string,
  webhooks: Record<string, unknown>,
): Promise<Ferry> {
  const configFile = path.join(dataDir, "ferry.json");
  writeFileSync(
    configFile,
    JSON.stringify({ outbound: { allow_networks: ["127.0.0.1/32"] }, webhooks }),
  );
  const child = spawnFerry(["serve"], {
    PORT: "0",
    FERRY_DATA_DIR: dataDir,
    FERRY_CONFIG: configFile,
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await waitForExit(child);
    }
  });
  const output = collectOutput(child);
  const url = await waitForListening(child);
  return { url, child, output: output.text };
}

async function killHard(ferry: Ferry): Promise<void> {
  ferry.child.kill("SIGKILL");
  const exit = await waitForExit(ferry.child);
  if (exit.signal !== "SIGKILL") {
    throw new Error(`ferry exited by itself (${JSON.stringify(exit)}): ${ferry.output()}`);
  }
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`GET ${url}: ${res.status} ${text}`);
  }
  return JSON.parse(text) as T;
}

async function deliveryOf(ferry: Ferry, subjectId: string): Promise<DeliveryJson | undefined> {
  const page = await getJson<{ data: DeliveryJson[] }>(
    `${ferry.url}/v1/webhook_deliveries?limit=100`,
  );
  return page.data.find((delivery) => delivery.callback_subject_id === subjectId);
}

async function createBackground(ferry: Ferry, callbackUrl: string, secret: string) {
  const res = await fetch(`${ferry.url}/v1/responses`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "gpt-4o-mini",
      input: "hello",
      background: true,
      callback_url: callbackUrl,
      callback_secret: secret,
    }),
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`POST /v1/responses: ${res.status} ${text}`);
  }
  return (JSON.parse(text) as { id: string }).id;
}

function completed(ferry: Ferry, id: string) {
  return waitFor(`response ${id} to complete`, async () => {
    const response = await getJson<{ status: string }>(`${ferry.url}/v1/responses/${id}`);
    return response.status === "completed" ? response : undefined;
  });
}

function newDataDir(cleanups: Cleanups): string {
  const dataDir = mkdtempSync(path.join(tmpdir(), "ferry-cb-crash-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  return dataDir;
}

/** Short retries after the restart, so the test waits for ferry only as long as it must. */
const QUICK = { retry_base_delay_ms: 50, retry_max_delay_ms: 200, timeout_ms: 2_000 };

describe.concurrent("a callback when ferry is killed with kill -9", () => {
  it("killed after the response completed and before any 2xx: delivered once after the restart", {
    timeout: 75_000,
  }, async ({ expect, onTestFinished }) => {
    const cleanups = cleanupsOf(onTestFinished);
    const dataDir = newDataDir(cleanups);
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    // Nothing listens there yet, and retries come at most a second apart: attempts fail
    // (ECONNREFUSED) and the delivery stays due soon, whichever process takes it next.
    const port = await freePort();
    const first = await startFerry(cleanups, dataDir, {
      retry_base_delay_ms: 1_000,
      retry_max_delay_ms: 1_000,
      timeout_ms: 2_000,
    });
    const id = await createBackground(first, `http://127.0.0.1:${port}/hook`, secret);
    await completed(first, id);
    const before = await waitFor("a refused attempt", async () => {
      const delivery = await deliveryOf(first, id);
      return delivery !== undefined && delivery.attempts >= 1 ? delivery : undefined;
    });
    expect(before.status).toBe("pending");
    expect(before.last_error).toMatch(/ECONNREFUSED/);
    await killHard(first);

    const receiver: CallbackReceiver = await startReceiver({ port, answer: () => 200 });
    cleanups.push(() => receiver.close());
    const second = await startFerry(cleanups, dataDir, QUICK);
    // Seconds, as a rule; but should the kill have landed in one of the refused attempts'
    // few milliseconds, the dead process's lease (timeout_ms + 30 s) must run out first.
    const delivered = await waitFor(
      "the callback to be delivered",
      async () => {
        const delivery = await deliveryOf(second, id);
        return delivery?.status === "delivered" ? delivery : undefined;
      },
      50_000,
    );
    expect(delivered.id).toBe(before.id);
    // Longer than the longest retry delay: nothing more may arrive once it is delivered.
    await new Promise((resolve) => setTimeout(resolve, 500));

    const received = receiver.byWebhookId(delivered.id);
    expect(received).toHaveLength(1);
    expect(receiver.received).toHaveLength(1);
    const [callback] = received as [ReceivedCallback];
    expect(callback.answered).toBe(200);
    // Signed with the secret the first process sealed: the restart opened it from the data dir.
    const body = (await sdk.webhooks.unwrap(
      callback.body,
      callback.headers as Record<string, string>,
      secret,
    )) as unknown as { id: string; status: string };
    expect(body).toMatchObject({ id, status: "completed" });
    expect(body).toEqual(await getJson(`${second.url}/v1/responses/${id}`));

    const detail = await getJson<{
      attempts: { status_code: number | null; error: string | null }[];
    }>(`${second.url}/v1/webhook_deliveries/${delivered.id}`);
    expect(detail.attempts.at(-1)).toMatchObject({ status_code: 200, error: null });
    expect(detail.attempts.filter((attempt) => attempt.status_code === 200)).toHaveLength(1);
    expect(
      detail.attempts.slice(0, -1).every((attempt) => /ECONNREFUSED/.test(attempt.error ?? "")),
    ).toBe(true);
  });

  it("an endpoint's event, killed after the response completed and before any 2xx: delivered once after the restart", {
    timeout: 75_000,
  }, async ({ expect, onTestFinished }) => {
    const cleanups = cleanupsOf(onTestFinished);
    const dataDir = newDataDir(cleanups);
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const port = await freePort();
    // The endpoint comes from the config file, so both processes have it with its secret.
    const endpoints = [
      {
        project: "default",
        name: "crash",
        url: `http://127.0.0.1:${port}/events`,
        event_types: ["response.completed"],
        secret,
      },
    ];
    const first = await startFerry(cleanups, dataDir, {
      retry_base_delay_ms: 1_000,
      retry_max_delay_ms: 1_000,
      timeout_ms: 2_000,
      endpoints,
    });
    const res = await fetch(`${first.url}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", input: "hello", background: true }),
    });
    const id = ((await res.json()) as { id: string }).id;
    await completed(first, id);
    const before = await waitFor("a refused attempt", async () => {
      const page = await getJson<{ data: DeliveryJson[] }>(`${first.url}/v1/webhook_deliveries`);
      const delivery = page.data.find((entry) => entry.endpoint_id !== null);
      return delivery !== undefined && delivery.attempts >= 1 ? delivery : undefined;
    });
    expect(before.status).toBe("pending");
    await killHard(first);

    const receiver: CallbackReceiver = await startReceiver({ port, answer: () => 200 });
    cleanups.push(() => receiver.close());
    const second = await startFerry(cleanups, dataDir, { ...QUICK, endpoints });
    const delivered = await waitFor(
      "the event to be delivered",
      async () => {
        const page = await getJson<{ data: DeliveryJson[] }>(`${second.url}/v1/webhook_deliveries`);
        const delivery = page.data.find((entry) => entry.id === before.id);
        return delivery?.status === "delivered" ? delivery : undefined;
      },
      50_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.received).toHaveLength(1);
    const [got] = receiver.byWebhookId(delivered.id) as [ReceivedCallback];
    const event = await sdk.webhooks.unwrap(
      got.body,
      got.headers as Record<string, string>,
      secret,
    );
    expect(event).toMatchObject({
      id: before.event_id,
      object: "event",
      type: "response.completed",
      data: { id },
    });
  });

  it("killed while the receiver holds the attempt unanswered: the same webhook-id arrives again and ends delivered", {
    // The dead process's lease (webhooks.timeout_ms + 30 s) must run out first.
    timeout: 75_000,
  }, async ({ expect, onTestFinished }) => {
    const cleanups = cleanupsOf(onTestFinished);
    const dataDir = newDataDir(cleanups);
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    let first: Ferry | undefined;
    let killed: Promise<void> | undefined;
    // The first request is held and ferry is killed the moment it has arrived, so the attempt
    // is in flight: sent, unanswered, its outcome unrecorded. Later ones are answered 200.
    const receiver = await startReceiver({
      answer: (_callback, index) => {
        if (index === 0) {
          killed = killHard(first as Ferry);
          return "hold";
        }
        return 200;
      },
    });
    cleanups.push(() => receiver.close());
    first = await startFerry(cleanups, dataDir, { ...QUICK, timeout_ms: 1_000 });
    const id = await createBackground(first, receiver.urlOf("/hook"), secret);
    await waitFor("the first attempt to arrive", () => receiver.received.length >= 1);
    await killed;
    const held = receiver.received[0] as ReceivedCallback;
    expect(held.answered).toBeNull();
    expect((JSON.parse(held.body) as { id: string; status: string }).status).toBe("completed");

    const second = await startFerry(cleanups, dataDir, QUICK);
    const delivered = await waitFor(
      "the callback to be delivered after the lease ran out",
      async () => {
        const delivery = await deliveryOf(second, id);
        return delivery?.status === "delivered" ? delivery : undefined;
      },
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));

    expect(held.webhookId).toBe(delivered.id);
    const received = receiver.byWebhookId(delivered.id);
    expect(received).toHaveLength(receiver.received.length);
    expect(received.length).toBeGreaterThanOrEqual(2);
    expect(received.filter((callback) => callback.answered === 200)).toHaveLength(1);
    expect(received.at(-1)?.answered).toBe(200);
    for (const callback of received) {
      // The same bytes every time, each attempt freshly signed.
      expect(callback.body).toBe(held.body);
      await sdk.webhooks.unwrap(callback.body, callback.headers as Record<string, string>, secret);
    }
    const detail = await getJson<{ attempts: { status_code: number | null }[] }>(
      `${second.url}/v1/webhook_deliveries/${delivered.id}`,
    );
    expect(detail.attempts.at(-1)?.status_code).toBe(200);
  });
});
