import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestContext } from "../helpers/test-app.js";
import {
  countRows,
  createManualClock,
  expectGone,
  expectPresent,
  HOUR_MS,
  json,
  retentionContext,
  runAll,
} from "./retention-helpers.js";

type ResponseJson = { id: string; status: string };

let clock: ReturnType<typeof createManualClock>;
let t: TestContext;
beforeEach(() => {
  clock = createManualClock();
  t = retentionContext(clock);
});
afterEach(() => t.close());

function createResponse(extra: Record<string, unknown> = {}): Promise<ResponseJson> {
  return json(t.post("/v1/responses", { model: "gpt-4o-mini", input: "rivers", ...extra }));
}

function eventCount(responseId: string): number {
  return countRows(
    t,
    "SELECT COUNT(*) AS n FROM response_events WHERE response_id = ?",
    responseId,
  );
}

function workCount(subjectId: string): number {
  return countRows(t, "SELECT COUNT(*) AS n FROM work_items WHERE subject_id = ?", subjectId);
}

describe("retention of responses", () => {
  it("deletes finished responses an hour after they finished; newer and running ones stay", async () => {
    const old = await createResponse();
    const sse = await t.post("/v1/responses", {
      model: "gpt-4o-mini",
      input: "rivers",
      background: true,
      stream: true,
    });
    await runAll(t);
    const streamed = { id: /"id":"(resp_[^"]+)"/.exec(await sse.text())?.[1] ?? "" };
    expect(eventCount(streamed.id)).toBeGreaterThan(2);
    expect(workCount(streamed.id)).toBe(1);
    // Queued and never run: it must survive any amount of time.
    const queued = await createResponse({ background: true });

    clock.advanceMs(HOUR_MS / 2);
    const newer = await createResponse();

    clock.advanceMs(HOUR_MS / 2 + 1000);
    const counts = await t.services.retention.sweep();
    expect(counts.responses).toBe(2);
    await expectGone(t, `/v1/responses/${old.id}`);
    await expectGone(t, `/v1/responses/${streamed.id}`);
    await expectGone(t, `/v1/responses/${streamed.id}?stream=true`);
    await expectGone(t, `/v1/responses/${old.id}/input_items`);
    expect(eventCount(streamed.id)).toBe(0);
    expect(workCount(streamed.id)).toBe(0);
    await expectPresent(t, `/v1/responses/${newer.id}`);
    await expectPresent(t, `/v1/responses/${queued.id}`);
    const list = await json<{ data: ResponseJson[] }>(t.get("/v1/responses"));
    expect(list.data.map((row) => row.id).sort()).toEqual([newer.id, queued.id].sort());

    clock.advanceMs(10 * 24 * HOUR_MS);
    await t.services.retention.sweep();
    await expectGone(t, `/v1/responses/${newer.id}`);
    const stillQueued = await json<ResponseJson>(t.get(`/v1/responses/${queued.id}`));
    expect(stillQueued.status).toBe("queued");
    expect(workCount(queued.id)).toBe(1);
  });

  it("counts from when a response ended, not from when it was created", async () => {
    const cancelled = await createResponse({ background: true });
    clock.advanceMs(50 * 60 * 1000);
    await json(t.post(`/v1/responses/${cancelled.id}/cancel`, {}));

    clock.advanceMs(HOUR_MS - 50 * 60 * 1000 + 1000); // created 1 h ago, cancelled 10 min ago
    await t.services.retention.sweep();
    await expectPresent(t, `/v1/responses/${cancelled.id}`);

    clock.advanceMs(HOUR_MS);
    await t.services.retention.sweep();
    await expectGone(t, `/v1/responses/${cancelled.id}`);
    expect(workCount(cancelled.id)).toBe(0);
  });

  it("a chain whose earlier turn expired answers a clear 400", async () => {
    const first = await createResponse();
    clock.advanceMs(HOUR_MS / 2);
    const second = await createResponse({ previous_response_id: first.id });
    clock.advanceMs(HOUR_MS / 2 + 1000);
    await t.services.retention.sweep();
    const res = await t.post("/v1/responses", {
      model: "gpt-4o-mini",
      input: "more",
      previous_response_id: second.id,
    });
    const body = await json<{ error: { code: string; message: string } }>(res, 400);
    expect(body.error.code).toBe("previous_response_not_found");
    expect(body.error.message).toContain("expired");
  });

  it("never stores store:false responses, streamed or not", async () => {
    const plain = await createResponse({ store: false });
    const streamed = await t.post("/v1/responses", {
      model: "gpt-4o-mini",
      input: "rivers",
      store: false,
      stream: true,
    });
    expect(streamed.status).toBe(200);
    const frames = await streamed.text();
    const id = /"id":"(resp_[^"]+)"/.exec(frames)?.[1];
    expect(id).toBeDefined();
    await expectGone(t, `/v1/responses/${plain.id}`);
    await expectGone(t, `/v1/responses/${id}`);
    expect(countRows(t, "SELECT COUNT(*) AS n FROM responses")).toBe(0);
    expect(countRows(t, "SELECT COUNT(*) AS n FROM response_events")).toBe(0);
    expect(countRows(t, "SELECT COUNT(*) AS n FROM work_items")).toBe(0);
    // And background mode, which must store, refuses store:false outright.
    const refused = await t.post("/v1/responses", {
      model: "gpt-4o-mini",
      input: "rivers",
      store: false,
      background: true,
    });
    expect(refused.status).toBe(400);
  });

  it("removes the work item of a response deleted through the API", async () => {
    const response = await createResponse({ background: true });
    await runAll(t);
    await json(t.app.request(`/v1/responses/${response.id}`, { method: "DELETE" }));
    expect(workCount(response.id)).toBe(1);
    const counts = await t.services.retention.sweep();
    expect(counts.orphanWorkItems).toBe(1);
    expect(workCount(response.id)).toBe(0);
  });

  it("deletes in steps of 500 rows until everything expired is gone", async () => {
    const nowSeconds = Math.floor(clock.nowMs() / 1000);
    const insert = t.db.$client.prepare(
      `INSERT INTO responses (id, project_id, status, model, created_at, completed_at, params, metadata, input_items, output)
       VALUES (?, ?, 'completed', 'm', ?, ?, '{}', '{}', '[]', '[]')`,
    );
    t.db.$client.transaction(() => {
      for (let i = 0; i < 1234; i++) {
        // Two projects, so the per-project index walk is exercised too.
        const project = i % 3 === 0 ? "beta" : "default";
        insert.run(`resp_bulk_${i}`, project, nowSeconds, nowSeconds);
      }
    })();
    const keep = await createResponse();
    clock.advanceMs(HOUR_MS - 1000);
    expect((await t.services.retention.sweep()).responses).toBe(0);
    clock.advanceMs(2000);
    const counts = await t.services.retention.sweep();
    expect(counts.responses).toBe(1235);
    expect(countRows(t, "SELECT COUNT(*) AS n FROM responses")).toBe(0);
    expect(keep.id).toMatch(/^resp_/);
  });

  it("keeps responses forever when retention is 0 or null", async () => {
    await t.close();
    t = retentionContext(clock, { responsesSeconds: null, batchesSeconds: 0 });
    const response = await createResponse();
    clock.advanceMs(365 * 24 * HOUR_MS);
    const counts = await t.services.retention.sweep();
    expect(counts.responses).toBe(0);
    await expectPresent(t, `/v1/responses/${response.id}`);
  });

  it("sweeps on its own timer once the services start, and stops with them", async () => {
    await t.close();
    t = retentionContext(clock, {
      responsesSeconds: 60,
      batchesSeconds: 60,
      sweepIntervalMs: 10,
    });
    const response = await createResponse();
    clock.advanceMs(61_000);
    t.services.start();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const res = await t.get(`/v1/responses/${response.id}`);
      if (res.status === 404) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await expectGone(t, `/v1/responses/${response.id}`);
  });

  it("stop() ends a sweep under way between two steps", async () => {
    const nowSeconds = Math.floor(clock.nowMs() / 1000);
    const insert = t.db.$client.prepare(
      `INSERT INTO responses (id, project_id, status, model, created_at, completed_at, params, metadata, input_items, output)
       VALUES (?, 'default', 'completed', 'm', ?, ?, '{}', '{}', '[]', '[]')`,
    );
    t.db.$client.transaction(() => {
      for (let i = 0; i < 2000; i++) {
        insert.run(`resp_bulk_${i}`, nowSeconds, nowSeconds);
      }
    })();
    clock.advanceMs(2 * HOUR_MS);
    const sweeping = t.services.retention.sweep();
    await t.services.retention.stop();
    const counts = await sweeping;
    // The first step ran before the first yield; the rest waits for the next sweep.
    expect(counts.responses).toBe(500);
    expect((await t.services.retention.sweep()).responses).toBe(1500);
  });
});
