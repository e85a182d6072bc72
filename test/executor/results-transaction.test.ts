import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLimiter } from "../../src/backends/limiter.js";
import { createExecutor, type Executor } from "../../src/executor/executor.js";
import type { Clock } from "../../src/lib/clock.js";
import { systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import {
  BATCH_LINE_LANE,
  BATCH_LINE_WORK_KIND,
  createBatchLineHandler,
} from "../../src/services/batch-line-handler.js";
import type { ChatCompletionsService } from "../../src/services/chat-completions.js";
import type { CompletionsService } from "../../src/services/completions.js";
import type { EmbeddingsService } from "../../src/services/embeddings.js";
import type { ResponsesService } from "../../src/services/responses.js";
import { type BatchLineStore, createBatchLineStore } from "../../src/store/batch-lines.js";
import { type BatchStore, createBatchStore } from "../../src/store/batches.js";
import { type Db, openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { createWorkStore, type WorkStore } from "../../src/store/work-items.js";

/**
 * The results transaction of the executor, through the batch line handler: a batch's counters
 * are summed per transaction and written with the lines' results, so they always agree, also
 * when the transaction fails.
 */

const LEASE_MS = 1000;
const USAGE = { prompt_tokens: 5, completion_tokens: 7 };

let db: Db;
let work: WorkStore;
let lines: BatchLineStore;
let batches: BatchStore;
let nowMs: number;
let failNextCommit: boolean;
let transactions: number;
let executor: Executor;

const clock: Clock = { nowMs: () => nowMs };

beforeEach(() => {
  db = openDatabase(":memory:");
  migrateDatabase(db);
  work = createWorkStore(db);
  lines = createBatchLineStore(db);
  batches = createBatchStore(db);
  nowMs = 1_000_000;
  failNextCommit = false;
  transactions = 0;
  // A chat service that answers at once; a line whose content is "fail" fails for good.
  const chat = {
    complete: async (_projectId: string, request: { messages: { content: string }[] }) => {
      if (request.messages[0]?.content === "fail") {
        throw new Error("the backend refused this one");
      }
      return { id: "chatcmpl_1", object: "chat.completion", choices: [], usage: USAGE };
    },
  } as unknown as ChatCompletionsService;
  // Embeddings of 150 vectors of 3,072 dimensions: about 9 MB of JSON per line.
  const embeddings = {
    answer: async () => ({
      model: "text-embedding-3-large",
      encodingFormat: "float",
      vectors: Array.from({ length: 150 }, () => new Float32Array(3072).fill(0.123456789)),
      promptTokens: 4,
    }),
  } as unknown as EmbeddingsService;
  executor = createExecutor({
    work,
    // Fails (after everything in it was written) when told to: a rollback must undo it all.
    transaction: (fn) =>
      db.$client.transaction(() => {
        fn();
        transactions++;
        if (failNextCommit) {
          failNextCommit = false;
          throw new Error("disk I/O error");
        }
      })(),
    backends: [
      {
        name: "mock",
        limiter: createLimiter({
          max: 100,
          adaptive: false,
          interactiveReserve: 0,
          clock: systemClock,
        }),
      },
    ],
    laneWeights: new Map(),
    handlers: {
      [BATCH_LINE_WORK_KIND]: createBatchLineHandler({
        batches,
        responses: {} as ResponsesService,
        chat,
        completions: {} as CompletionsService,
        embeddings,
        onLineCommitted: () => {},
      }),
    },
    clock,
    logger: createSilentLogger(),
    options: {
      leaseMs: LEASE_MS,
      pollMs: 1000,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      commitBatchSize: 100,
    },
  });
});

afterEach(async () => {
  await executor.stop();
  db.$client.close();
});

function createRunningEmbeddingsBatch(id: string, count: number) {
  batches.insert({
    id,
    projectId: "proj",
    status: "in_progress",
    endpoint: "/v1/embeddings",
    inputFileId: "file-input",
    completionWindow: "24h",
    totalCount: count,
    createdAt: 1000,
    expiresAt: 1000 + 86_400,
  });
  lines.insertHeld(
    { id, projectId: "proj", backend: "mock", lane: BATCH_LINE_LANE, nowMs },
    Array.from({ length: count }, (_, index) => ({
      line: index + 1,
      customId: `${id}-${index}`,
      payload: {
        customId: `${id}-${index}`,
        endpoint: "/v1/embeddings",
        body: { model: "text-embedding-3-large", input: "hello" },
      },
    })),
  );
  lines.releaseHeld(id);
}

function createRunningBatch(id: string, contents: readonly string[]) {
  batches.insert({
    id,
    projectId: "proj",
    status: "in_progress",
    endpoint: "/v1/chat/completions",
    inputFileId: "file-input",
    completionWindow: "24h",
    totalCount: contents.length,
    createdAt: 1000,
    expiresAt: 1000 + 86_400,
  });
  lines.insertHeld(
    { id, projectId: "proj", backend: "mock", lane: BATCH_LINE_LANE, nowMs },
    contents.map((content, index) => ({
      line: index + 1,
      customId: `${id}-${index}`,
      payload: {
        customId: `${id}-${index}`,
        endpoint: "/v1/chat/completions",
        body: { model: "m", messages: [{ role: "user", content }] },
      },
    })),
  );
  lines.releaseHeld(id);
}

async function runQueued() {
  while (executor.runOnce() > 0 || executor.inFlight() > 0) {
    await executor.drain();
  }
}

function countersOf(id: string) {
  const row = batches.findById(id);
  return {
    completed: row?.completedCount,
    failed: row?.failedCount,
    inputTokens: row?.inputTokens,
    outputTokens: row?.outputTokens,
  };
}

function linesOf(id: string) {
  return db.$client
    .prepare(
      "SELECT status, attempts, result IS NOT NULL AS hasResult FROM work_items WHERE subject_id = ? ORDER BY id",
    )
    .all(id) as { status: string; attempts: number; hasResult: number }[];
}

describe("the results transaction", () => {
  it("writes each batch's counters once per transaction, summed over its lines", async () => {
    createRunningBatch("batch_a", ["one", "two", "fail", "three"]);
    createRunningBatch("batch_b", ["four", "fail"]);

    await runQueued();

    expect(transactions).toBe(1);
    expect(countersOf("batch_a")).toEqual({
      completed: 3,
      failed: 1,
      inputTokens: 15,
      outputTokens: 21,
    });
    expect(countersOf("batch_b")).toEqual({
      completed: 1,
      failed: 1,
      inputTokens: 5,
      outputTokens: 7,
    });
    expect(linesOf("batch_a").every((line) => line.hasResult === 1)).toBe(true);
  });

  it("keeps counters and results together when the transaction rolls back", async () => {
    createRunningBatch("batch_a", ["one", "two", "fail"]);
    failNextCommit = true;

    await runQueued();

    // Nothing was written: no results, no counts; the lines stay running under the lost commit's lease.
    expect(countersOf("batch_a")).toEqual({
      completed: 0,
      failed: 0,
      inputTokens: 0,
      outputTokens: 0,
    });
    expect(linesOf("batch_a")).toEqual([
      { status: "running", attempts: 1, hasResult: 0 },
      { status: "running", attempts: 1, hasResult: 0 },
      { status: "running", attempts: 1, hasResult: 0 },
    ]);

    // The lease runs out; the lines run again and are counted exactly once.
    nowMs += LEASE_MS + 1;
    expect(work.requeueExpired(nowMs)).toBe(3);
    await runQueued();

    expect(countersOf("batch_a")).toEqual({
      completed: 2,
      failed: 1,
      inputTokens: 10,
      outputTokens: 14,
    });
    expect(linesOf("batch_a")).toEqual([
      { status: "succeeded", attempts: 2, hasResult: 1 },
      { status: "succeeded", attempts: 2, hasResult: 1 },
      { status: "failed", attempts: 2, hasResult: 1 },
    ]);
  });

  it("drops the result and the count of a line whose lease was lost", async () => {
    createRunningBatch("batch_a", ["one", "two"]);
    executor.runOnce();
    // Another executor took the first line over (say this one stalled past its lease).
    db.$client
      .prepare(
        "UPDATE work_items SET lease_owner = 'someone-else' WHERE subject_id = ? AND id = (SELECT MIN(id) FROM work_items WHERE subject_id = ?)",
      )
      .run("batch_a", "batch_a");
    await executor.drain();

    expect(countersOf("batch_a")).toMatchObject({ completed: 1, inputTokens: 5 });
    expect(linesOf("batch_a").map((line) => line.hasResult)).toEqual([0, 1]);
  });

  it("commits large results one transaction at a time, each written as its handler made it", async () => {
    createRunningEmbeddingsBatch("batch_e", 3);

    await runQueued();

    // Three 9 MB results: each its own transaction (together they held the event loop for seconds).
    expect(transactions).toBe(3);
    expect(countersOf("batch_e")).toMatchObject({ completed: 3, inputTokens: 12 });
    const rows = db.$client
      .prepare("SELECT result FROM work_items WHERE subject_id = ? ORDER BY id")
      .all("batch_e") as { result: string }[];
    for (const [index, row] of rows.entries()) {
      const line = JSON.parse(row.result);
      expect(line).toMatchObject({
        custom_id: `batch_e-${index}`,
        response: { status_code: 200, body: { object: "list", model: "text-embedding-3-large" } },
        error: null,
      });
      expect(Object.keys(line)).toEqual(["id", "custom_id", "response", "error"]);
      expect(line.response.body.data).toHaveLength(150);
      expect(line.response.body.data[7]).toMatchObject({ object: "embedding", index: 7 });
      expect(line.response.body.data[7].embedding[0]).toBeCloseTo(0.123456789, 6);
      expect(line.response.body.usage).toEqual({ prompt_tokens: 4, total_tokens: 4 });
    }
  });
});
