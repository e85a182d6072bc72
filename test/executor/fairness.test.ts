import { afterEach, describe, expect, it } from "vitest";
import { createLimiter } from "../../src/backends/limiter.js";
import { createExecutor, type Executor } from "../../src/executor/executor.js";
import type { Clock } from "../../src/lib/clock.js";
import { systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { BATCH_LINE_LANE } from "../../src/services/batch-line-handler.js";
import { LANE_WEIGHTS } from "../../src/services/create-services.js";
import { dispatchRankOf } from "../../src/services/prompt-prefix.js";
import { BACKGROUND_RESPONSE_LANE, DEFERRED_RESPONSE_LANE } from "../../src/services/responses.js";
import { type BatchLineStore, createBatchLineStore } from "../../src/store/batch-lines.js";
import { type Db, openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { type ClaimedWork, createWorkStore, type WorkStore } from "../../src/store/work-items.js";

/**
 * The executor's fairness, claim by claim: lanes get weighted shares of a backend (higher
 * priority more, none nothing), projects of a lane take turns, and so do a project's batches.
 * Handlers finish at once, so each `runOnce()` after a `drain()` is one claim of every free slot.
 */

let db: Db;
let executor: Executor;
afterEach(async () => {
  await executor.stop();
  db.$client.close();
});

function createWorld(slots: number) {
  db = openDatabase(":memory:");
  migrateDatabase(db);
  const work = createWorkStore(db);
  const started: ClaimedWork[] = [];
  const clock: Clock = { nowMs: () => 1_000 };
  const recordingHandler = {
    run: async (item: ClaimedWork) => {
      started.push(item);
      return { commit() {} };
    },
    onFailure: () => ({ commit() {} }),
  };
  executor = createExecutor({
    work,
    transaction: (fn) => db.$client.transaction(fn)(),
    backends: [
      {
        name: "mock",
        limiter: createLimiter({
          max: slots,
          adaptive: false,
          interactiveReserve: 0,
          clock: systemClock,
        }),
      },
    ],
    handlers: { job: recordingHandler, batch_line: recordingHandler },
    laneWeights: LANE_WEIGHTS,
    clock,
    logger: createSilentLogger(),
    options: { leaseMs: 10_000, pollMs: 1_000, commitBatchSize: 100, retry: RETRY },
  });
  /** One claim of every free slot, run to the end; returns who got the slots. */
  async function claimRound(): Promise<ClaimedWork[]> {
    const before = started.length;
    executor.runOnce();
    await executor.drain();
    return started.slice(before);
  }
  return { work, lines: createBatchLineStore(db), claimRound };
}

const RETRY = { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 };

function enqueueMany(
  work: WorkStore,
  count: number,
  item: { projectId: string; lane: number; ownerKey: string },
) {
  for (let i = 0; i < count; i++) {
    work.enqueue({
      kind: "job",
      subjectId: `${item.ownerKey}-${i}`,
      ...item,
      backend: "mock",
      payload: {},
      nowMs: 0,
    });
  }
}

/** A held-then-released batch of chat lines over four system prompts, each line ranked by its prefix. */
function insertRankedBatch(
  lines: BatchLineStore,
  batchId: string,
  projectId: string,
  count: number,
) {
  const prompts = ["grade", "translate", "summarise", "classify"];
  lines.insertHeld(
    { id: batchId, projectId, backend: "mock", lane: BATCH_LINE_LANE, nowMs: 0 },
    Array.from({ length: count }, (_, i) => {
      // Interleaved, the worst submission order for a prefix cache.
      const body = {
        model: "m",
        messages: [
          { role: "system", content: `You ${prompts[i % prompts.length]}.` },
          { role: "user", content: `line ${i}` },
        ],
      };
      return {
        line: i + 1,
        customId: `${batchId}-${i}`,
        payload: { body },
        dispatchRank: dispatchRankOf("/v1/chat/completions", body),
      };
    }),
  );
  lines.releaseHeld(batchId);
}

const systemPromptOf = (item: ClaimedWork) =>
  (item.payload as { body: { messages: { content: string }[] } }).body.messages[0]?.content;

const isBatchOf = (project: string) => (item: ClaimedWork) =>
  item.lane === BATCH_LINE_LANE && item.projectId === project;

describe("the executor's fair claim", () => {
  it("gives another project's batch its share of every claim during a flood of background work", async () => {
    const { work, claimRound } = createWorld(4);
    enqueueMany(work, 1000, { projectId: "a", lane: BACKGROUND_RESPONSE_LANE, ownerKey: "a" });
    enqueueMany(work, 100, { projectId: "b", lane: BATCH_LINE_LANE, ownerKey: "batch_b" });
    let batchLines = 0;
    let claimed = 0;
    for (let round = 0; round < 12; round++) {
      const items = await claimRound();
      expect(items).toHaveLength(4);
      const ofBatch = items.filter(isBatchOf("b")).length;
      // At least one of the four slots in every claim, and never more than the flood's share.
      expect(ofBatch, `round ${round}`).toBeGreaterThanOrEqual(1);
      expect(ofBatch, `round ${round}`).toBeLessThanOrEqual(2);
      batchLines += ofBatch;
      claimed += items.length;
    }
    // Weights 4 (background) and 2 (batch lines): the batch gets a third of the claims.
    expect(batchLines).toBe(claimed / 3);
  });

  it("does not let a project's own flood of background work starve its batch", async () => {
    const { work, claimRound } = createWorld(4);
    enqueueMany(work, 1000, { projectId: "a", lane: BACKGROUND_RESPONSE_LANE, ownerKey: "a" });
    enqueueMany(work, 100, { projectId: "a", lane: BATCH_LINE_LANE, ownerKey: "batch_a" });
    for (let round = 0; round < 6; round++) {
      expect((await claimRound()).filter(isBatchOf("a")).length).toBeGreaterThanOrEqual(1);
    }
  });

  it("serves every lane of a one-slot backend in proportion to its weight", async () => {
    const { work, claimRound } = createWorld(1);
    enqueueMany(work, 100, { projectId: "a", lane: BACKGROUND_RESPONSE_LANE, ownerKey: "a" });
    enqueueMany(work, 100, { projectId: "a", lane: DEFERRED_RESPONSE_LANE, ownerKey: "stream_a" });
    enqueueMany(work, 100, { projectId: "b", lane: BATCH_LINE_LANE, ownerKey: "batch_b" });
    const lanes: number[] = [];
    for (let round = 0; round < 18; round++) {
      lanes.push(...(await claimRound()).map((item) => item.lane));
    }
    const count = (lane: number) => lanes.filter((each) => each === lane).length;
    // Weights 4 : 3 : 2 over 18 claims; priority still decides the first claim.
    expect([count(0), count(1), count(2)]).toEqual([8, 6, 4]);
    expect(lanes[0]).toBe(BACKGROUND_RESPONSE_LANE);
    // No lane waits long: every window of five claims has a batch line.
    for (let start = 0; start + 5 <= lanes.length; start++) {
      expect(lanes.slice(start, start + 5), `claims ${start}..${start + 4}`).toContain(2);
    }
  });

  it("gives a lane that was idle its share, not a burst for the time it waited", async () => {
    const { work, claimRound } = createWorld(1);
    enqueueMany(work, 100, { projectId: "a", lane: BACKGROUND_RESPONSE_LANE, ownerKey: "a" });
    for (let round = 0; round < 20; round++) {
      await claimRound();
    }
    enqueueMany(work, 100, { projectId: "b", lane: BATCH_LINE_LANE, ownerKey: "batch_b" });
    const next: ClaimedWork[] = [];
    for (let round = 0; round < 6; round++) {
      next.push(...(await claimRound()));
    }
    expect(next.filter(isBatchOf("b"))).toHaveLength(2);
  });

  it("uses the whole backend when only one lane has work", async () => {
    const { work, claimRound } = createWorld(4);
    enqueueMany(work, 10, { projectId: "b", lane: BATCH_LINE_LANE, ownerKey: "batch_b" });
    expect(await claimRound()).toHaveLength(4);
  });

  it("takes turns between projects in a lane, then between a project's batches", async () => {
    const { work, claimRound } = createWorld(1);
    // Project a has two batches, b one: b still gets every other claim, and a's batches alternate.
    enqueueMany(work, 10, { projectId: "a", lane: BATCH_LINE_LANE, ownerKey: "batch_a1" });
    enqueueMany(work, 10, { projectId: "a", lane: BATCH_LINE_LANE, ownerKey: "batch_a2" });
    enqueueMany(work, 10, { projectId: "b", lane: BATCH_LINE_LANE, ownerKey: "batch_b" });
    const owners: string[] = [];
    for (let round = 0; round < 6; round++) {
      owners.push(...(await claimRound()).map((item) => item.ownerKey));
    }
    expect(owners).toEqual(["batch_a1", "batch_b", "batch_a2", "batch_b", "batch_a1", "batch_b"]);
  });

  it("keeps two projects' prefix-ranked batches at the same pace, each in prompt order", async () => {
    const { lines, claimRound } = createWorld(4);
    insertRankedBatch(lines, "batch_a", "a", 100);
    insertRankedBatch(lines, "batch_b", "b", 100);
    const claimed: ClaimedWork[] = [];
    for (let round = 0; round < 40; round++) {
      const items = await claimRound();
      // Every claim of four slots: two lines of each project's batch.
      expect(items.filter(isBatchOf("a")), `round ${round}`).toHaveLength(2);
      expect(items.filter(isBatchOf("b")), `round ${round}`).toHaveLength(2);
      claimed.push(...items);
    }
    // Both batches ran through their four prompts one after another (three switches each),
    // in the same prompt order: the rank is a function of the prompt, not of the batch.
    const promptsOf = (project: string) => claimed.filter(isBatchOf(project)).map(systemPromptOf);
    const runs = (prompts: readonly (string | undefined)[]) =>
      prompts.filter((prompt, i) => i === 0 || prompt !== prompts[i - 1]);
    expect(runs(promptsOf("a"))).toHaveLength(4);
    expect(runs(promptsOf("a"))).toEqual(runs(promptsOf("b")));
  });

  it("hands a lane's unused share to the others in the same claim", async () => {
    const { work, claimRound } = createWorld(4);
    enqueueMany(work, 1, { projectId: "a", lane: BACKGROUND_RESPONSE_LANE, ownerKey: "a" });
    enqueueMany(work, 10, { projectId: "b", lane: BATCH_LINE_LANE, ownerKey: "batch_b" });
    const items = await claimRound();
    expect(items.map((item) => item.lane).sort()).toEqual([0, 2, 2, 2]);
  });
});
