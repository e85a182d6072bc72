import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

/** Streams through plain HTTP, as cURL or the seed's client calls them. */

type StreamJson = Record<string, unknown> & { id: string; status: string };
type EventJson = {
  completion_id: string;
  response_id: string;
  custom_id: string | null;
  status: string;
  result: { id: string; status: string } | null;
  error: unknown;
  total_tokens: number | null;
};
type EventPage = { object: string; data: EventJson[]; has_more: boolean };

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

async function json<T>(res: Response | Promise<Response>, status = 200): Promise<T> {
  const resolved = await res;
  const text = await resolved.text();
  expect(resolved.status, text).toBe(status);
  return JSON.parse(text) as T;
}

async function createStream(name = "s", window = "24h") {
  return json<StreamJson>(t.post("/v1/streams", { name, window }));
}

async function addItem(streamId: string, input: string, metadata: Record<string, string> = {}) {
  return json<{ id: string; status: string; background: boolean }>(
    t.post("/v1/responses", {
      model: "gpt-4o-mini",
      input,
      metadata: { stream_id: streamId, ...metadata },
    }),
  );
}

async function runAll() {
  const { executor } = t.services;
  while (executor.runOnce() > 0 || executor.inFlight() > 0) {
    await executor.drain();
  }
}

function events(streamId: string, query = "") {
  return json<EventPage>(t.get(`/v1/streams/${streamId}/events${query}`));
}

describe("streams", () => {
  it("creates, lists newest first, and retrieves with counters", async () => {
    const a = await createStream("a", "1h");
    const b = await createStream("b");
    expect(a).toMatchObject({ object: "stream", name: "a", window: "1h", status: "open" });
    expect(a.id).toMatch(/^stream_/);
    expect(a.created_at).toEqual(expect.any(Number));
    const list = await json<{
      object: string;
      data: StreamJson[];
      has_more: boolean;
      items: StreamJson[];
    }>(t.get("/v1/streams?limit=1"));
    expect(list.object).toBe("list");
    expect(list.data.map((stream) => stream.id)).toEqual([b.id]);
    expect(list.items).toEqual(list.data);
    expect(list.has_more).toBe(true);
    const next = await json<{ data: StreamJson[]; has_more: boolean }>(
      t.get(`/v1/streams?limit=1&after=${b.id}`),
    );
    expect(next.data.map((stream) => stream.id)).toEqual([a.id]);
    expect(next.has_more).toBe(false);
    const detail = await json<StreamJson>(t.get(`/v1/streams/${a.id}`));
    expect(detail).toMatchObject({
      total_items: 0,
      pending_items: 0,
      running_items: 0,
      completed_items: 0,
      completion_ratio: 0,
      latest_completion_id: null,
    });
  });

  it("takes deferred responses, answers them queued, and counts them through to completion", async () => {
    const stream = await createStream();
    const first = await addItem(stream.id, "one", { custom_id: "c1" });
    expect(first.status).toBe("queued");
    expect(first.background).toBe(true);
    await addItem(stream.id, "two", { mock_error: "400" });
    expect(await json<StreamJson>(t.get(`/v1/streams/${stream.id}`))).toMatchObject({
      total_items: 2,
      pending_items: 2,
      running_items: 0,
    });
    await runAll();
    const detail = await json<StreamJson>(t.get(`/v1/streams/${stream.id}`));
    expect(detail).toMatchObject({
      total_items: 2,
      pending_items: 0,
      completed_items: 1,
      failed_items: 1,
      completion_ratio: 1,
    });
    expect(detail.total_tokens).toBe(
      (detail.total_prompt_tokens as number) + (detail.total_completion_tokens as number),
    );
    expect(detail.latest_completion_id).toMatch(/^cmpl_\d{16}$/);
    const page = await events(stream.id);
    expect(page.data.map((event) => event.status).sort()).toEqual(["completed", "failed"]);
    const completed = page.data.find((event) => event.status === "completed");
    expect(completed).toMatchObject({
      custom_id: "c1",
      response_id: first.id,
      result: { id: first.id, status: "completed" },
    });
    expect(completed?.total_tokens).toBeGreaterThan(0);
    const listed = await json<{ data: { id: string }[] }>(
      t.get(`/v1/responses?stream_id=${stream.id}`),
    );
    expect(listed.data).toHaveLength(2);
  });

  it("refuses items for an unknown, cancelled or archived stream", async () => {
    expect(
      (
        await t.post("/v1/responses", {
          model: "m",
          input: "x",
          metadata: { stream_id: "stream_nope" },
        })
      ).status,
    ).toBe(404);
    const stream = await createStream();
    await json(
      t.app.request(`/v1/streams/${stream.id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: '{"status":"archived"}',
      }),
    );
    const refused = await t.post("/v1/responses", {
      model: "m",
      input: "x",
      metadata: { stream_id: stream.id },
    });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { param: string } }).error.param).toBe(
      "metadata.stream_id",
    );
  });

  it("cancels a stream: pending items cancelled, each with an event, new items refused", async () => {
    const stream = await createStream();
    for (let i = 0; i < 3; i++) {
      await addItem(stream.id, `item ${i}`);
    }
    const patched = await json<StreamJson>(
      t.app.request(`/v1/streams/${stream.id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: '{"status":"cancelled"}',
      }),
    );
    expect(patched).toMatchObject({ status: "cancelled", cancelled_items: 3, pending_items: 0 });
    expect(patched.cancelled_at).toEqual(expect.any(Number));
    const page = await events(stream.id);
    expect(page.data.map((event) => event.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
    expect(
      (
        await t.post("/v1/responses", {
          model: "m",
          input: "x",
          metadata: { stream_id: stream.id },
        })
      ).status,
    ).toBe(409);
    // Archiving a cancelled stream keeps its data readable.
    const archived = await json<StreamJson>(
      t.app.request(`/v1/streams/${stream.id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: '{"status":"archived"}',
      }),
    );
    expect(archived.status).toBe("archived");
    expect((await events(stream.id)).data).toHaveLength(3);
  });

  it("pages events by cursor: latest newest first, starting_after oldest first, ending_before backwards", async () => {
    const stream = await createStream();
    for (let i = 0; i < 7; i++) {
      await addItem(stream.id, `item ${i}`, { custom_id: `c${i}` });
      await runAll(); // one completion at a time: completion order is c0..c6
    }
    const latest = await events(stream.id, "?limit=3");
    expect(latest.data.map((event) => event.custom_id)).toEqual(["c6", "c5", "c4"]);
    expect(latest.has_more).toBe(true);
    const ids = latest.data.map((event) => event.completion_id);
    expect([...ids].sort().reverse()).toEqual(ids); // sortable: text order is completion order

    const older = await events(stream.id, `?limit=3&ending_before=${ids[2]}`);
    expect(older.data.map((event) => event.custom_id)).toEqual(["c3", "c2", "c1"]);
    expect(older.has_more).toBe(true);
    const oldest = await events(
      stream.id,
      `?limit=3&ending_before=${older.data[2]?.completion_id}`,
    );
    expect(oldest.data.map((event) => event.custom_id)).toEqual(["c0"]);
    expect(oldest.has_more).toBe(false);

    const forward = await events(
      stream.id,
      `?limit=4&starting_after=${oldest.data[0]?.completion_id}`,
    );
    expect(forward.data.map((event) => event.custom_id)).toEqual(["c1", "c2", "c3", "c4"]);
    expect(forward.has_more).toBe(true);
    const rest = await events(
      stream.id,
      `?limit=4&starting_after=${forward.data[3]?.completion_id}`,
    );
    expect(rest.data.map((event) => event.custom_id)).toEqual(["c5", "c6"]);
    expect(rest.has_more).toBe(false);
  });

  it("tails forward from the oldest event and sees every completion exactly once while items keep arriving", async () => {
    t.services.executor.start();
    const stream = await createStream();
    const total = 120;
    const seen: string[] = [];
    let cursor: string | undefined;
    const producer = (async () => {
      for (let i = 0; i < total; i++) {
        await addItem(stream.id, `tail ${i}`, {
          custom_id: `t${i}`,
          ...(i % 7 === 0 ? { mock_error: "400" } : {}),
        });
        if (i % 10 === 0) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }
    })();
    const deadline = Date.now() + 20_000;
    while (seen.length < total && Date.now() < deadline) {
      const query =
        cursor === undefined ? "?limit=1" : `?limit=7&wait_ms=200&starting_after=${cursor}`;
      const page = await events(stream.id, query);
      if (cursor === undefined) {
        // The first page (no cursor) is the newest; start the tail from the very oldest instead.
        if (page.data.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 5)); // let the executor run
          continue;
        }
        // Page backwards (ending_before) to the very first completion.
        let before = "cmpl_9999999999999999";
        let first: EventJson | undefined;
        for (;;) {
          const older = await events(stream.id, `?limit=100&ending_before=${before}`);
          first = older.data.at(-1) ?? first;
          if (!older.has_more || first === undefined) {
            break;
          }
          before = first.completion_id;
        }
        if (first === undefined) {
          throw new Error("expected at least one completion");
        }
        seen.push(first.custom_id ?? "");
        cursor = first.completion_id;
        continue;
      }
      for (const event of page.data) {
        seen.push(event.custom_id ?? "");
        cursor = event.completion_id;
      }
    }
    await producer;
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
  });

  it("answers 404 for an unknown stream and 400 for bad cursors, limits and wait_ms", async () => {
    const stream = await createStream();
    expect((await t.get("/v1/streams/stream_nope")).status).toBe(404);
    expect((await t.get("/v1/streams/stream_nope/events")).status).toBe(404);
    for (const query of [
      "limit=0",
      "limit=101",
      "limit=x",
      "wait_ms=-1",
      "wait_ms=30001",
      "starting_after=bogus",
      "ending_before=cmpl_12",
      "starting_after=cmpl_0000000000000001&ending_before=cmpl_0000000000000002",
    ]) {
      const res = await t.get(`/v1/streams/${stream.id}/events?${query}`);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe(
        "invalid_request_error",
      );
    }
    expect((await t.post("/v1/streams", { name: "", window: "24h" })).status).toBe(400);
    expect((await t.post("/v1/streams", { name: "x", window: "2h" })).status).toBe(400);
    const badPatch = await t.app.request(`/v1/streams/${stream.id}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: '{"status":"open"}',
    });
    expect(badPatch.status).toBe(400);
    expect(
      (
        await t.post("/v1/responses", {
          model: "m",
          input: "x",
          metadata: { completion_window: "2h" },
        })
      ).status,
    ).toBe(400);
  });

  it("keeps counters equal to a recount after 1,000 concurrent submissions with random failures", async () => {
    t.services.executor.start();
    const stream = await createStream();
    const statuses = ["500", "400", "429"];
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        addItem(stream.id, `n${i}`, i % 5 === 0 ? { mock_error: statuses[i % 3] ?? "500" } : {}),
      ),
    );
    const deadline = Date.now() + 30_000;
    let detail = await json<StreamJson>(t.get(`/v1/streams/${stream.id}`));
    while (
      (detail.pending_items as number) + (detail.running_items as number) > 0 &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      detail = await json<StreamJson>(t.get(`/v1/streams/${stream.id}`));
    }
    const sqlite = t.db.$client;
    const recount = sqlite
      .prepare(
        `SELECT COUNT(*) AS total,
           SUM(status IN ('completed','incomplete')) AS completed,
           SUM(status = 'failed') AS failed,
           SUM(status = 'cancelled') AS cancelled
         FROM responses WHERE stream_id = ?`,
      )
      .get(stream.id) as { total: number; completed: number; failed: number; cancelled: number };
    const tokens = sqlite
      .prepare(
        `SELECT COALESCE(SUM(prompt_tokens), 0) AS prompt, COALESCE(SUM(completion_tokens), 0) AS completion, COUNT(*) AS events
         FROM stream_events WHERE stream_id = ?`,
      )
      .get(stream.id) as { prompt: number; completion: number; events: number };
    expect(detail).toMatchObject({
      total_items: recount.total,
      completed_items: recount.completed,
      failed_items: recount.failed,
      cancelled_items: recount.cancelled,
      total_prompt_tokens: tokens.prompt,
      total_completion_tokens: tokens.completion,
    });
    expect(recount.total).toBe(1000);
    expect(recount.failed).toBe(200);
    expect(tokens.events).toBe(1000);
  }, 60_000);

  it("ends items not finished within the window as expired", async () => {
    let nowMs = Date.now();
    await t.close();
    t = createTestContext({ clock: { nowMs: () => nowMs } });
    const stream = await createStream("short", "1h");
    await addItem(stream.id, "never runs");
    nowMs += 3601 * 1000;
    expect(t.services.responses.expireOverdue()).toBe(1);
    const page = await events(stream.id);
    expect(page.data.map((event) => event.status)).toEqual(["expired"]);
    expect(page.data[0]?.result?.status).toBe("failed");
    expect(await json<StreamJson>(t.get(`/v1/streams/${stream.id}`))).toMatchObject({
      failed_items: 1,
      pending_items: 0,
    });
  });
});
