/**
 * Futures and retention: a finished future is kept 24 hours from its creation, then its poll
 * and result answer 404 (before the sweep as after), and the sweep deletes its row and work item.
 */
import { afterEach, describe, expect, it } from "vitest";
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
} from "../retention/retention-helpers.js";

let t: TestContext;
afterEach(async () => {
  await t.close();
});

const ASYNC = { "x-octoai-async": "1" };

describe("futures retention", () => {
  it("keeps a finished future 24 hours, then answers 404 and sweeps it away", async () => {
    const clock = createManualClock();
    t = retentionContext(clock);
    const future = await json<{ id: string; poll_url: string; status: string }>(
      t.post(
        "/v1/chat/completions",
        { model: "gpt-4o-mini", messages: [{ role: "user", content: "keep me" }] },
        ASYNC,
      ),
      202,
    );
    expect(future.status).toBe("pending");
    // The row and its work item were written together.
    expect(
      countRows(t, "SELECT COUNT(*) AS n FROM work_items WHERE subject_id = ?", future.id),
    ).toBe(1);
    await runAll(t);
    const done = await json<{ status: string }>(t.get(`/v1/futures/${future.id}`));
    expect(done.status).toBe("completed");

    clock.advanceMs(23 * HOUR_MS);
    expect((await t.services.retention.sweep()).futures).toBe(0);
    await expectPresent(t, `/v1/futures/${future.id}`);
    await expectPresent(t, `/v1/futures/${future.id}/result`);

    clock.advanceMs(HOUR_MS);
    await expectGone(t, `/v1/futures/${future.id}`);
    await expectGone(t, `/v1/futures/${future.id}/result`);
    expect((await t.services.retention.sweep()).futures).toBe(1);
    expect(countRows(t, "SELECT COUNT(*) AS n FROM futures")).toBe(0);
    expect(
      countRows(t, "SELECT COUNT(*) AS n FROM work_items WHERE subject_id = ?", future.id),
    ).toBe(0);
  });

  it("never sweeps a future that has not run, and its result is a 409 until it has", async () => {
    const clock = createManualClock();
    t = retentionContext(clock);
    const future = await json<{ id: string }>(
      t.post("/v1/embeddings", { model: "text-embedding-3-small", input: "later" }, ASYNC),
      202,
    );
    const early = await json<{ error: { code: string } }>(
      t.get(`/v1/futures/${future.id}/result`),
      409,
    );
    expect(early.error.code).toBe("future_not_ready");
    clock.advanceMs(25 * HOUR_MS);
    expect((await t.services.retention.sweep()).futures).toBe(0);
    expect(countRows(t, "SELECT COUNT(*) AS n FROM futures")).toBe(1);
  });
});
