import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestContext } from "../helpers/test-app.js";
import {
  chatLine,
  countRows,
  createManualClock,
  expectGone,
  expectPresent,
  HOUR_MS,
  hasBlob,
  json,
  retentionContext,
  runAll,
  upload,
} from "./retention-helpers.js";

type EventPage = { data: { completion_id: string; response_id: string }[] };
type StreamDetail = {
  total_items: number;
  completed_items: number;
  total_tokens: number;
  latest_completion_id: string | null;
};
type BatchJson = {
  id: string;
  status: string;
  input_file_id: string;
  output_file_id?: string | null;
};

let clock: ReturnType<typeof createManualClock>;
let t: TestContext;
beforeEach(() => {
  clock = createManualClock();
  t = retentionContext(clock);
});
afterEach(() => t.close());

async function addStreamItem(streamId: string, input: string): Promise<string> {
  const res = await json<{ id: string }>(
    t.post("/v1/responses", { model: "gpt-4o-mini", input, metadata: { stream_id: streamId } }),
  );
  await runAll(t);
  return res.id;
}

/** Drives the supervisor and the executor until the batch has ended. */
async function settle(batchId: string): Promise<BatchJson> {
  for (let round = 0; round < 200; round++) {
    await t.services.supervisor.sweep();
    await runAll(t);
    const batch = await json<BatchJson>(t.get(`/v1/batches/${batchId}`));
    if (["completed", "failed", "expired", "cancelled"].includes(batch.status)) {
      return batch;
    }
  }
  throw new Error(`batch ${batchId} did not settle`);
}

function lineCount(batchId: string): number {
  return countRows(t, "SELECT COUNT(*) AS n FROM work_items WHERE subject_id = ?", batchId);
}

describe("retention of stream events", () => {
  it("deletes events an hour after completion and keeps the stream's counters", async () => {
    const stream = await json<{ id: string }>(t.post("/v1/streams", { name: "s" }));
    const first = await addStreamItem(stream.id, "one");
    clock.advanceMs(40 * 60 * 1000);
    const second = await addStreamItem(stream.id, "two");
    const before = await json<StreamDetail>(t.get(`/v1/streams/${stream.id}`));
    expect(before.completed_items).toBe(2);

    clock.advanceMs(20 * 60 * 1000 + 1000);
    const counts = await t.services.retention.sweep();
    expect(counts).toMatchObject({ responses: 1, streamEvents: 1 });
    const page = await json<EventPage>(t.get(`/v1/streams/${stream.id}/events`));
    expect(page.data.map((event) => event.response_id)).toEqual([second]);
    await expectGone(t, `/v1/responses/${first}`);
    // Counters are totals of everything the stream did, not a count of what is still stored.
    expect(await json<StreamDetail>(t.get(`/v1/streams/${stream.id}`))).toEqual(before);

    clock.advanceMs(HOUR_MS);
    await t.services.retention.sweep();
    const empty = await json<EventPage>(t.get(`/v1/streams/${stream.id}/events`));
    expect(empty.data).toEqual([]);
    // A consumer's saved cursor still works: there is simply nothing after it.
    const resumed = await json<EventPage>(
      t.get(`/v1/streams/${stream.id}/events?starting_after=${before.latest_completion_id}`),
    );
    expect(resumed.data).toEqual([]);
    expect(await json<StreamDetail>(t.get(`/v1/streams/${stream.id}`))).toEqual(before);
    expect(countRows(t, "SELECT COUNT(*) AS n FROM stream_events")).toBe(0);
  });
});

describe("retention of files", () => {
  it("deletes files at their expires_at, rows and bytes, and keeps the others", async () => {
    const soon = await upload(t, { expiresAfterSeconds: 3600 });
    const later = await upload(t, { expiresAfterSeconds: 7200 });
    const forever = await upload(t, {});
    expect(soon.expires_at).toBeDefined();
    expect(hasBlob(t, soon.id)).toBe(true);

    clock.advanceMs(HOUR_MS - 1000);
    expect((await t.services.retention.sweep()).files).toBe(0);
    clock.advanceMs(1000);
    expect((await t.services.retention.sweep()).files).toBe(1);

    await expectGone(t, `/v1/files/${soon.id}`);
    await expectGone(t, `/v1/files/${soon.id}/content`);
    const deleted = await t.app.request(`/v1/files/${soon.id}`, { method: "DELETE" });
    expect(deleted.status).toBe(404);
    expect(hasBlob(t, soon.id)).toBe(false);
    await expectPresent(t, `/v1/files/${later.id}/content`);
    await expectPresent(t, `/v1/files/${forever.id}/content`);
    const list = await json<{ data: { id: string }[] }>(t.get("/v1/files"));
    expect(list.data.map((file) => file.id).sort()).toEqual([later.id, forever.id].sort());

    clock.advanceMs(365 * 24 * HOUR_MS);
    await t.services.retention.sweep();
    await expectGone(t, `/v1/files/${later.id}`);
    expect(hasBlob(t, later.id)).toBe(false);
    await expectPresent(t, `/v1/files/${forever.id}`);
    expect(hasBlob(t, forever.id)).toBe(true);
  });

  it("removes old bytes whose row is gone, but never young ones or uploads in progress", async () => {
    const kept = await upload(t, {});
    const filesDir = path.join(t.config.dataDir, "files");
    const orphan = "file-0000orphan";
    const young = "file-0000young";
    writeFileSync(path.join(filesDir, orphan), "left by a crash");
    writeFileSync(path.join(filesDir, young), "just written");
    mkdirSync(path.join(filesDir, "tmp"), { recursive: true });
    const part = path.join(filesDir, "tmp", "file-0000upload.part");
    writeFileSync(part, "an upload in progress");
    // The orphan's bytes were written two hours before the clock's now.
    const twoHoursAgo = (clock.nowMs() - 2 * HOUR_MS) / 1000;
    utimesSync(path.join(filesDir, orphan), twoHoursAgo, twoHoursAgo);

    const counts = await t.services.retention.sweep();
    expect(counts.orphanBlobs).toBe(1);
    expect(hasBlob(t, orphan)).toBe(false);
    expect(hasBlob(t, young)).toBe(true);
    expect(hasBlob(t, kept.id)).toBe(true);

    clock.advanceMs(2 * HOUR_MS);
    expect((await t.services.retention.sweep()).orphanBlobs).toBe(1);
    expect(hasBlob(t, young)).toBe(false);
    expect(hasBlob(t, kept.id)).toBe(true);
    expect(existsSync(part)).toBe(true);
    expect(countRows(t, "SELECT COUNT(*) AS n FROM files")).toBe(1);
    await expectPresent(t, `/v1/files/${kept.id}/content`);
  });
});

describe("retention of batches", () => {
  it("deletes finished batches and their lines an hour after they ended; running ones stay", async () => {
    const inputFileId = (
      await upload(t, {
        purpose: "batch",
        filename: "input.jsonl",
        text: [chatLine("a", "one"), chatLine("b", "two")]
          .map((line) => JSON.stringify(line))
          .join("\n"),
      })
    ).id;
    const fromFile = await json<BatchJson>(
      t.post("/v1/batches", {
        input_file_id: inputFileId,
        endpoint: "/v1/chat/completions",
        completion_window: "24h",
      }),
    );
    const inline = await json<BatchJson>(
      t.post("/v1/batches", {
        requests: [{ custom_id: "x", body: chatLine("x", "inline").body }],
      }),
    );
    const finished = await settle(fromFile.id);
    const finishedInline = await settle(inline.id);
    expect(finished.status).toBe("completed");
    expect(finishedInline.status).toBe("completed");
    const outputFileId = finished.output_file_id ?? "";
    expect(outputFileId).toMatch(/^file-/);
    expect(lineCount(fromFile.id)).toBe(2);

    // A batch that is still running when the others expire.
    const running = await json<BatchJson>(
      t.post("/v1/batches", { requests: [{ body: chatLine("r", "slow").body }] }),
    );
    await t.services.supervisor.sweep();
    expect((await json<BatchJson>(t.get(`/v1/batches/${running.id}`))).status).toBe("in_progress");
    expect(lineCount(running.id)).toBe(1);

    clock.advanceMs(HOUR_MS + 1000);
    const counts = await t.services.retention.sweep();
    expect(counts).toMatchObject({ batches: 2, batchLines: 3 });
    for (const id of [fromFile.id, inline.id]) {
      await expectGone(t, `/v1/batches/${id}`);
      await expectGone(t, `/v1/batches/${id}/results`);
      await expectGone(t, `/v1/batches/${id}/results.jsonl`);
      const cancel = await t.post(`/v1/batches/${id}/cancel`, {});
      expect(cancel.status).toBe(404);
      expect(lineCount(id)).toBe(0);
    }
    const list = await json<{ data: { id: string }[] }>(t.get("/v1/batches"));
    expect(list.data.map((batch) => batch.id)).toEqual([running.id]);
    expect(lineCount(running.id)).toBe(1);
    await expectPresent(t, `/v1/batches/${running.id}`);
    // Files follow their own expires_at: the output (30 days) and the uploaded input stay; the
    // input file ferry made from inline requests went with its batch.
    await expectPresent(t, `/v1/files/${outputFileId}/content`);
    await expectPresent(t, `/v1/files/${inputFileId}`);
    await expectGone(t, `/v1/files/${inline.input_file_id}`);
    expect(hasBlob(t, inline.input_file_id)).toBe(false);

    clock.advanceMs(31 * 24 * HOUR_MS);
    await t.services.retention.sweep();
    await expectGone(t, `/v1/files/${outputFileId}`);
    expect(hasBlob(t, outputFileId)).toBe(false);
    await expectGone(t, `/v1/files/${inputFileId}`);
    await expectPresent(t, `/v1/batches/${running.id}`);
  });

  it("deletes a large batch's lines in steps, and lines a crash left without their batch", async () => {
    const requests = Array.from({ length: 1203 }, (_, index) => ({
      custom_id: `line-${index}`,
      body: chatLine("x", `line ${index}`).body,
    }));
    const batch = await json<BatchJson>(t.post("/v1/batches", { requests }));
    const settled = await settle(batch.id);
    expect(settled.status).toBe("completed");
    expect(lineCount(batch.id)).toBe(1203);
    // Lines whose batch row is gone, as a crash between the two deletions would leave them.
    t.db.$client
      .prepare(
        `INSERT INTO work_items (kind, subject_id, project_id, lane, owner_key, backend, status, item_key, payload, created_at_ms)
         VALUES ('batch_line', 'batch_gone', 'default', 2, 'batch_gone', 'mock', 'succeeded', ?, '{}', 0)`,
      )
      .run("orphan-line");

    clock.advanceMs(HOUR_MS + 1000);
    const counts = await t.services.retention.sweep();
    expect(counts).toMatchObject({ batches: 1, batchLines: 1203, orphanWorkItems: 1 });
    expect(countRows(t, "SELECT COUNT(*) AS n FROM work_items")).toBe(0);
    await expectGone(t, `/v1/batches/${batch.id}`);
  });

  it("keeps batches forever when batches_seconds is 0", async () => {
    await t.close();
    t = retentionContext(clock, { responsesSeconds: 3600, batchesSeconds: 0 });
    const batch = await json<BatchJson>(
      t.post("/v1/batches", { requests: [{ body: chatLine("x", "one").body }] }),
    );
    await settle(batch.id);
    clock.advanceMs(365 * 24 * HOUR_MS);
    expect((await t.services.retention.sweep()).batches).toBe(0);
    await expectPresent(t, `/v1/batches/${batch.id}`);
    expect(lineCount(batch.id)).toBe(1);
  });
});
