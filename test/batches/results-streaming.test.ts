import { setImmediate as nextTurn } from "node:timers/promises";
import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AppEnv } from "../../src/http/app-env.js";
import { batchesRoutes } from "../../src/http/batches.js";
import { createErrorHandler } from "../../src/http/errors.js";
import { systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { DEFAULT_PROJECT_ID } from "../../src/services/api-keys.js";
import { createBatchesService } from "../../src/services/batches.js";
import { createKeyedNotifier } from "../../src/services/keyed-notifier.js";
import { createQueueCap } from "../../src/services/queue-cap.js";
import { type BatchLineStore, createBatchLineStore } from "../../src/store/batch-lines.js";
import { createBatchStore } from "../../src/store/batches.js";
import { createProjectWorkCounts } from "../../src/store/project-work-counts.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";
import { chatLine, createBatch, runUntilSettled, uploadJsonl } from "./batch-helpers.js";

/**
 * `GET /v1/batches/{id}/results` and `/results.jsonl` stream their bodies from the database in
 * bounded chunks: a large batch is never built in memory, a single huge result is cut into
 * pieces rather than concatenated, and a client that goes away stops the reading. Results are
 * padded in the database to make them large without running large batches.
 */

const MAX_CHUNK_BYTES = 64 * 1024;

let t: TestContext;
let batchId: string;
beforeEach(async () => {
  t = createTestContext();
  const fileId = await uploadJsonl(
    t,
    ["a", "b", "c", "d", "e"].map((id) => chatLine(id, `question ${id}`)),
  );
  const created = await createBatch(t, {
    input_file_id: fileId,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  batchId = created.id;
  expect((await runUntilSettled(t, batchId)).status).toBe("completed");
});
afterEach(() => t.close());

/** Makes every result of the batch about `chars` characters long (a `pad` field). */
function padResults(chars: number, customId?: string) {
  t.db.$client
    .prepare(
      `UPDATE work_items SET result = json_set(result, '$.pad', printf('%.*c', ?, 'x'))
       WHERE subject_id = ? AND (? IS NULL OR item_key = ?)`,
    )
    .run(chars, batchId, customId ?? null, customId ?? null);
}

/** The batches routes over a line store that counts the result rows read from the database. */
function countingApp(): { app: Hono<AppEnv>; rowsRead: () => number } {
  const real = createBatchLineStore(t.db);
  let rows = 0;
  const lines: BatchLineStore = {
    ...real,
    *iterate(id) {
      for (const line of real.iterate(id)) {
        rows++;
        yield line;
      }
    },
    *resultTextPages(id, maxChars) {
      for (const page of real.resultTextPages(id, maxChars)) {
        rows += page.length;
        yield page;
      }
    },
  };
  const batches = createBatchesService({
    batches: createBatchStore(t.db),
    lines,
    files: t.services.files,
    supervisor: t.services.supervisor,
    clock: systemClock,
    windowSecondsOverride: null,
    inputLimits: t.config.batches,
    batchWaits: createKeyedNotifier(),
    transaction: (fn) => t.db.$client.transaction(fn)(),
    callbacks: t.services.callbacks,
    // No cap: these tests are about reading results back.
    queueCap: createQueueCap({
      counts: createProjectWorkCounts(t.db),
      scope: { backends: [], lanes: [] },
      maxQueuedPerProject: 0,
      clock: systemClock,
    }),
  });
  const app = new Hono<AppEnv>();
  app.onError(createErrorHandler(createSilentLogger()));
  app.use(async (c, next) => {
    c.set("projectId", DEFAULT_PROJECT_ID);
    await next();
  });
  app.route(
    "/v1/batches",
    batchesRoutes({
      batches,
      maxJsonBodyBytes: 1024 * 1024,
      maxJsonlBodyBytes: t.config.batches.maxInputBytes,
      logger: createSilentLogger(),
    }),
  );
  return { app, rowsRead: () => rows };
}

async function readChunks(res: Response): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      return chunks;
    }
    chunks.push(value);
  }
}

function text(chunks: Uint8Array[]): string {
  return Buffer.concat(chunks).toString("utf8");
}

describe("GET /v1/batches/{id}/results", () => {
  it("keeps its shape, streamed in bounded chunks", async () => {
    padResults(300_000);
    const res = await t.get(`/v1/batches/${batchId}/results`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const chunks = await readChunks(res);
    expect(chunks.length).toBeGreaterThan(1);
    expect(Math.max(...chunks.map((chunk) => chunk.byteLength))).toBeLessThanOrEqual(
      MAX_CHUNK_BYTES,
    );
    const body = JSON.parse(text(chunks)) as Record<string, unknown> & {
      results: { custom_id: string; pad: string; response: { status_code: number } }[];
    };
    expect(Object.keys(body)).toEqual([
      "batch_id",
      "status",
      "output_url",
      "completed_at",
      "results",
    ]);
    expect(body).toMatchObject({
      batch_id: batchId,
      status: "completed",
      output_url: expect.stringMatching(new RegExp(`/v1/batches/${batchId}/results.jsonl$`)),
      completed_at: expect.any(Number),
    });
    expect(body.results.map((line) => line.custom_id)).toEqual(["a", "b", "c", "d", "e"]);
    for (const line of body.results) {
      expect(line.pad).toHaveLength(300_000);
      expect(line.response.status_code).toBe(200);
    }
  });

  it("cuts a single huge result into pieces instead of building one string", async () => {
    padResults(6_000_000, "c");
    for (const path of ["results", "results.jsonl"]) {
      const res = await t.get(`/v1/batches/${batchId}/${path}`);
      expect(res.status, path).toBe(200);
      const chunks = await readChunks(res);
      expect(Math.max(...chunks.map((chunk) => chunk.byteLength)), path).toBeLessThanOrEqual(
        MAX_CHUNK_BYTES,
      );
      const body = text(chunks);
      const results =
        path === "results"
          ? (JSON.parse(body) as { results: { custom_id: string; pad?: string }[] }).results
          : body
              .split("\n")
              .filter((line) => line !== "")
              .map((line) => JSON.parse(line) as { custom_id: string; pad?: string });
      expect(results.map((line) => line.custom_id)).toEqual(["a", "b", "c", "d", "e"]);
      expect(results[2]?.pad).toHaveLength(6_000_000);
    }
  });

  it("reads rows as the client reads, and stops when the client goes away", async () => {
    // A megabyte per result: every page of rows holds one.
    padResults(1_100_000);
    for (const path of ["results", "results.jsonl"]) {
      const { app, rowsRead } = countingApp();
      const res = await app.request(`/v1/batches/${batchId}/${path}`);
      expect(res.status, path).toBe(200);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      expect(rowsRead(), path).toBeLessThan(5);
      await reader.cancel();
      // Give a producer that ignored the cancel every chance to read the rest.
      for (let turn = 0; turn < 50; turn++) {
        await nextTurn();
      }
      expect(rowsRead(), path).toBeLessThan(5);
    }
  });

  it("answers 404 in OpenAI's envelope for an unknown batch", async () => {
    for (const path of ["results", "results.jsonl"]) {
      const res = await t.get(`/v1/batches/batch_missing/${path}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({
        error: {
          type: "invalid_request_error",
          message: "No batch found with id 'batch_missing'.",
        },
      });
    }
  });
});
