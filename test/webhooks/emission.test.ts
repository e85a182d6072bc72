import { afterEach, describe, expect, it } from "vitest";
import type { Outbox, OutboxEvent } from "../../src/webhooks/outbox.js";
import { chatLine, createBatch, runUntilSettled } from "../batches/batch-helpers.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

/**
 * Events from the state changes that cause them: each terminal transition records exactly one
 * event, inside the transaction that makes the change, and only when the change happened.
 */

interface Recorded {
  readonly event: OutboxEvent;
  /** Whether record() ran inside an open transaction. */
  readonly inTransaction: boolean;
  /** The callback object, read at record time (inside the transaction). */
  readonly object: unknown;
}

/** The project's Outbox interface, storing what it is given (the delivery lane is elsewhere). */
function recordingOutbox(getTestContext: () => TestContext | undefined) {
  const recorded: Recorded[] = [];
  let notified = 0;
  const outbox: Outbox = {
    record(event) {
      recorded.push({
        event,
        inTransaction: getTestContext()?.db.$client.inTransaction ?? false,
        object: event.object?.(),
      });
      return true;
    },
    notify() {
      notified++;
    },
  };
  return { outbox, recorded, notifications: () => notified };
}

let t: TestContext | undefined;
let offsetMs = 0;
const clock = { nowMs: () => Date.now() + offsetMs };
afterEach(async () => {
  await t?.close();
  t = undefined;
  offsetMs = 0;
});

function setup() {
  const recording = recordingOutbox(() => t);
  t = createTestContext({ outbox: recording.outbox, clock });
  return { t, ...recording };
}

async function json<T>(res: Response | Promise<Response>): Promise<T> {
  const resolved = await res;
  const text = await resolved.text();
  expect(resolved.status, text).toBe(200);
  return JSON.parse(text) as T;
}

async function runAll(context: TestContext, rounds = 1) {
  const { executor } = context.services;
  for (let round = 0; round < rounds; round++) {
    while (executor.runOnce() > 0 || executor.inFlight() > 0) {
      await executor.drain();
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const types = (recorded: readonly Recorded[]) => recorded.map((entry) => entry.event.type);

describe("response events", () => {
  it("a completed background response records response.completed once, in its transaction, with the Response as GET returns it", async () => {
    const { t, recorded, notifications } = setup();
    const created = await json<{ id: string }>(
      t.post("/v1/responses", { model: "gpt-4o-mini", input: "hi", background: true }),
    );
    expect(recorded).toHaveLength(0);
    await runAll(t);
    expect(types(recorded)).toEqual(["response.completed"]);
    const [entry] = recorded;
    expect(entry?.inTransaction).toBe(true);
    expect(entry?.event).toMatchObject({ projectId: expect.any(String), subjectId: created.id });
    const got = await json<Record<string, unknown>>(t.get(`/v1/responses/${created.id}`));
    expect(entry?.object).toEqual(got);
    expect(notifications()).toBeGreaterThan(0);
    // Running again changes nothing and records nothing more.
    await runAll(t);
    expect(recorded).toHaveLength(1);
  });

  it("a synchronous response records nothing, streamed or not", async () => {
    const { t, recorded } = setup();
    await json(t.post("/v1/responses", { model: "gpt-4o-mini", input: "hi" }));
    const streamed = await t.post("/v1/responses", {
      model: "gpt-4o-mini",
      input: "hi",
      stream: true,
    });
    await streamed.text();
    expect(recorded).toHaveLength(0);
  });

  it("a failed one records response.failed; a streamed background one too", async () => {
    const { t, recorded } = setup();
    const failed = await json<{ id: string }>(
      t.post("/v1/responses", {
        model: "gpt-4o-mini",
        input: "hi",
        background: true,
        metadata: { mock_error: "400" },
      }),
    );
    const streamed = await t.post("/v1/responses", {
      model: "gpt-4o-mini",
      input: "hi",
      background: true,
      stream: true,
      metadata: { mock_error: "400" },
    });
    await runAll(t);
    await streamed.text();
    expect(types(recorded)).toEqual(["response.failed", "response.failed"]);
    expect(recorded.every((entry) => entry.inTransaction)).toBe(true);
    expect(recorded[0]?.event.subjectId).toBe(failed.id);
  });

  it("an incomplete one records response.incomplete", async () => {
    const { t, recorded } = setup();
    await json(
      t.post("/v1/responses", {
        model: "gpt-4o-mini",
        input: "tell me a long story",
        background: true,
        max_output_tokens: 16,
      }),
    );
    await runAll(t);
    expect(types(recorded)).toEqual(["response.incomplete"]);
  });

  it("a cancel records response.cancelled once; cancelling again records nothing", async () => {
    const { t, recorded } = setup();
    const created = await json<{ id: string }>(
      t.post("/v1/responses", { model: "gpt-4o-mini", input: "hi", background: true }),
    );
    await json(t.post(`/v1/responses/${created.id}/cancel`, ""));
    await json(t.post(`/v1/responses/${created.id}/cancel`, ""));
    await runAll(t);
    expect(types(recorded)).toEqual(["response.cancelled"]);
    expect(recorded[0]?.inTransaction).toBe(true);
    expect(recorded[0]?.object).toMatchObject({ id: created.id, status: "cancelled" });
  });
});

describe("stream item events", () => {
  it("a stream's item records response.completed and ferry's stream.item.completed, naming the item", async () => {
    const { t, recorded } = setup();
    const stream = await json<{ id: string }>(t.post("/v1/streams", { name: "s" }));
    const item = await json<{ id: string }>(
      t.post("/v1/responses", {
        model: "gpt-4o-mini",
        input: "hi",
        metadata: { stream_id: stream.id },
      }),
    );
    await runAll(t);
    expect(types(recorded).sort()).toEqual(["response.completed", "stream.item.completed"]);
    const streamEvent = recorded.find((entry) => entry.event.type === "stream.item.completed");
    expect(streamEvent?.inTransaction).toBe(true);
    expect(streamEvent?.event.subjectId).toBe(stream.id);
    expect(streamEvent?.event.data).toEqual({
      response_id: item.id,
      completion_id: expect.stringMatching(/^cmpl_/),
      status: "completed",
    });
    const page = await json<{ data: { completion_id: string }[] }>(
      t.get(`/v1/streams/${stream.id}/events`),
    );
    expect(page.data.map((event) => event.completion_id)).toEqual([
      streamEvent?.event.data?.completion_id,
    ]);
  });

  it("cancelling a stream records a cancelled event per active item; an item past its window fails", async () => {
    const { t, recorded } = setup();
    const stream = await json<{ id: string }>(t.post("/v1/streams", { name: "s" }));
    const item = () =>
      json<{ id: string }>(
        t.post("/v1/responses", {
          model: "gpt-4o-mini",
          input: "hi",
          metadata: { stream_id: stream.id },
        }),
      );
    await item();
    await item();
    await json(
      t.app.request(`/v1/streams/${stream.id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ status: "cancelled" }),
      }),
    );
    expect(types(recorded).sort()).toEqual([
      "response.cancelled",
      "response.cancelled",
      "stream.item.completed",
      "stream.item.completed",
    ]);
    expect(recorded.every((entry) => entry.inTransaction)).toBe(true);

    recorded.length = 0;
    const late = await json<{ id: string }>(
      t.post("/v1/responses", {
        model: "gpt-4o-mini",
        input: "hi",
        background: true,
        metadata: { completion_window: "1h" },
      }),
    );
    offsetMs = 2 * 3600_000;
    expect(t.services.responses.expireOverdue()).toBe(1);
    expect(t.services.responses.expireOverdue()).toBe(0);
    expect(types(recorded)).toEqual(["response.failed"]);
    expect(recorded[0]?.event.subjectId).toBe(late.id);
  });
});

describe("batch events", () => {
  it("a batch that completes records batch.completed once, with the Batch as GET returns it", async () => {
    const { t, recorded } = setup();
    const batch = await createBatch(t, {
      requests: [chatLine("a", "hi").body].map((body) => ({ body })),
    });
    const ended = await runUntilSettled(t, batch.id);
    expect(ended.status).toBe("completed");
    await t.services.supervisor.sweep();
    expect(types(recorded)).toEqual(["batch.completed"]);
    expect(recorded[0]?.inTransaction).toBe(true);
    expect(recorded[0]?.object).toEqual(ended);
  });

  it("failed validation records batch.failed; a cancel batch.cancelled; the window batch.expired", async () => {
    const { t, recorded } = setup();
    const invalid = await createBatch(t, {
      endpoint: "/v1/chat/completions",
      requests: [{ body: { model: "no-such-model", messages: [] } }],
    });
    expect((await runUntilSettled(t, invalid.id)).status).toBe("failed");

    const cancelled = await createBatch(t, { requests: [{ body: chatLine("a", "hi").body }] });
    await json(t.post(`/v1/batches/${cancelled.id}/cancel`, ""));
    expect((await runUntilSettled(t, cancelled.id)).status).toBe("cancelled");

    const expired = await createBatch(t, { requests: [{ body: chatLine("a", "hi").body }] });
    offsetMs = 25 * 3600_000;
    expect((await runUntilSettled(t, expired.id)).status).toBe("expired");
    await t.services.supervisor.sweep();

    expect(recorded.map((entry) => [entry.event.type, entry.event.subjectId])).toEqual([
      ["batch.failed", invalid.id],
      ["batch.cancelled", cancelled.id],
      ["batch.expired", expired.id],
    ]);
    expect(recorded.every((entry) => entry.inTransaction)).toBe(true);
  });
});
