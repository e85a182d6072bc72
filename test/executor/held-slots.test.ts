import { afterEach, describe, expect, it } from "vitest";
import type { Backend, Generation } from "../../src/backends/backend.js";
import { limitBackend } from "../../src/backends/limited-backend.js";
import { createLimiter, type Limiter } from "../../src/backends/limiter.js";
import { createExecutor, type Executor, type WorkHandler } from "../../src/executor/executor.js";
import { systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { BATCH_LINE_LANE } from "../../src/services/batch-line-handler.js";
import { LANE_PRIORITIES, LANE_WEIGHTS } from "../../src/services/create-services.js";
import { BACKGROUND_RESPONSE_LANE } from "../../src/services/responses.js";
import { type Db, openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { createWorkStore, type WorkStore } from "../../src/store/work-items.js";

/**
 * The executor takes a backend slot per item when it claims it, the item's backend call runs in
 * that slot (no second one), the slot is free the moment the call ends, and a freed slot is
 * refilled at once, without a poll tick.
 */

let db: Db;
let executor: Executor;
afterEach(async () => {
  await executor.stop();
  db.$client.close();
});

/** A backend whose calls end when the test says so (or after `delayMs`). */
function controllableBackend(delayMs: number | null) {
  const open: (() => void)[] = [];
  const backend: Backend = {
    name: "fake",
    generate: (_request, signal) =>
      new Promise<Generation>((resolve, reject) => {
        const finish = () => resolve({} as Generation);
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        if (delayMs === null) {
          open.push(finish);
        } else {
          setTimeout(finish, delayMs);
        }
      }),
    streamGenerate: () => {
      throw new Error("not used");
    },
    embed: () => {
      throw new Error("not used");
    },
  };
  const finishAll = () => {
    for (const finish of open.splice(0)) {
      finish();
    }
  };
  /** Ends the oldest open call; false when none is open. */
  const finishOne = () => {
    const finish = open.shift();
    finish?.();
    return finish !== undefined;
  };
  return { backend, finishAll, finishOne };
}

function createWorld(options: {
  max: number;
  delayMs: number | null;
  /** What the handler does after its call ended (result building, waiting for a commit). */
  afterCall?: () => Promise<void>;
}) {
  db = openDatabase(":memory:");
  migrateDatabase(db);
  const store = createWorkStore(db);
  let claims = 0;
  const work: WorkStore = {
    ...store,
    claim(request) {
      claims++;
      return store.claim(request);
    },
  };
  const limiter: Limiter = createLimiter({
    max: options.max,
    adaptive: false,
    interactiveReserve: 0.25,
    clock: systemClock,
  });
  const fake = controllableBackend(options.delayMs);
  const backend = limitBackend(fake.backend, limiter, systemClock);
  let maxInFlight = 0;
  let calls = 0;
  const ran: string[] = [];
  let finished = 0;
  const handler: WorkHandler = {
    async run(item, signal, slot) {
      calls++;
      ran.push(item.subjectId);
      maxInFlight = Math.max(maxInFlight, limiter.inFlight());
      await backend.generate({} as never, signal, { slot });
      await options.afterCall?.();
      finished++;
      return { commit() {} };
    },
    onFailure: () => ({ commit() {} }),
  };
  executor = createExecutor({
    work,
    transaction: (fn) => db.$client.transaction(fn)(),
    backends: [{ name: "fake", limiter }],
    handlers: { job: handler },
    laneWeights: LANE_WEIGHTS,
    lanePriorities: LANE_PRIORITIES,
    clock: systemClock,
    logger: createSilentLogger(),
    // A poll tick that never comes within a test: only freed slots can start more work.
    options: {
      leaseMs: 60_000,
      pollMs: 60_000,
      commitBatchSize: 100,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    },
  });
  return {
    work,
    limiter,
    backend,
    finishAll: fake.finishAll,
    finishOne: fake.finishOne,
    stats: () => ({ maxInFlight, calls, finished, claims, ran }),
  };
}

function enqueue(work: WorkStore, lane: number, count: number) {
  for (let index = 0; index < count; index++) {
    work.enqueue({
      kind: "job",
      subjectId: `s_${lane}_${index}`,
      projectId: "p",
      lane,
      ownerKey: `o_${lane}`,
      backend: "fake",
      payload: {},
      nowMs: Date.now(),
    });
  }
}

async function until(condition: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error("timed out waiting");
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("held slots", () => {
  it("claims batch work only up to the limit less the reserve, and the rest for other lanes", async () => {
    const world = createWorld({ max: 8, delayMs: null });
    // A client called a moment ago, so the reserve is the configured share (a quarter of 8).
    world.limiter.tryAcquire("interactive")?.release();
    enqueue(world.work, BATCH_LINE_LANE, 50);
    executor.runOnce();
    // 8 less a reserve of 2; every claimed line holds its slot, and its call takes no other.
    expect(executor.inFlight()).toBe(6);
    await until(() => world.stats().calls === 6);
    expect(world.limiter.inFlight()).toBe(6);
    expect(executor.runOnce()).toBe(0);
    enqueue(world.work, BACKGROUND_RESPONSE_LANE, 5);
    expect(executor.runOnce()).toBe(2); // background work may use the reserve
    await until(() => world.stats().calls === 8);
    expect(world.limiter.inFlight()).toBe(8);
    expect(world.stats().maxInFlight).toBeLessThanOrEqual(8);
    world.finishAll();
  });

  it("frees an item's slot when its call ends, before its result is committed", async () => {
    let releaseAfterCall: () => void = () => {};
    const afterCall = new Promise<void>((resolve) => {
      releaseAfterCall = resolve;
    });
    const world = createWorld({ max: 4, delayMs: null, afterCall: () => afterCall });
    enqueue(world.work, BACKGROUND_RESPONSE_LANE, 3);
    executor.runOnce();
    await until(() => world.stats().calls === 3);
    expect(world.limiter.inFlight()).toBe(3);
    world.finishAll();
    // The calls ended; the handlers still run (their results not yet committed).
    await until(() => world.limiter.inFlight() === 0);
    expect(executor.inFlight()).toBe(3);
    expect(world.stats().finished).toBe(0);
    releaseAfterCall();
    await executor.drain();
    expect(world.stats().finished).toBe(3);
  });

  it("refills freed slots at once, with no poll tick, never over the limit", async () => {
    const world = createWorld({ max: 4, delayMs: 5 });
    enqueue(world.work, BATCH_LINE_LANE, 60);
    executor.start();
    // The poll tick is a minute away: only refills on freed slots can run all 60 in time.
    await until(() => world.stats().finished === 60);
    expect(world.stats().maxInFlight).toBeLessThanOrEqual(3); // 4 less a reserve of 1
    await executor.drain();
    expect(world.limiter.inFlight()).toBe(0);
  });

  it("claims for a backend with an empty queue again only once work may have come", async () => {
    const world = createWorld({ max: 4, delayMs: 1 });
    executor.start();
    await until(() => world.stats().claims >= 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const before = world.stats().claims;
    // Sync calls free a slot each; with nothing queued, none of them is worth a claim.
    for (let index = 0; index < 50; index++) {
      await world.backend.generate({} as never, new AbortController().signal);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(world.stats().claims).toBe(before);
    // An enqueue says so with wake(), and the work runs.
    enqueue(world.work, BATCH_LINE_LANE, 5);
    executor.wake();
    await until(() => world.stats().finished === 5);
  });

  it("claims batch work ahead of free slots, so one claim serves many calls", async () => {
    const world = createWorld({ max: 64, delayMs: null });
    enqueue(world.work, BATCH_LINE_LANE, 300);
    executor.start();
    await until(() => world.stats().calls === 63); // 64 less a reserve of 1
    const before = world.stats().claims;
    // Calls end one at a time, as they do at a busy upstream: each frees one slot.
    while (world.stats().finished < 200) {
      world.finishOne();
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    }
    // A claim per freed slot would be 200; claimed ahead, each claim serves a group of them.
    expect(world.stats().claims - before).toBeLessThan(200 / 3);
    expect(world.stats().maxInFlight).toBeLessThanOrEqual(64);
    world.finishAll();
  });

  it("gives work claimed ahead back at a stop, its attempt not counted", async () => {
    const world = createWorld({ max: 4, delayMs: null });
    enqueue(world.work, BATCH_LINE_LANE, 20);
    executor.start();
    await until(() => world.stats().calls === 3); // 4 less a reserve of 1
    const running = db.$client
      .prepare("SELECT COUNT(*) AS n FROM work_items WHERE status = 'running'")
      .get() as { n: number };
    expect(running.n).toBeGreaterThan(3); // the calls, and the items claimed ahead of them
    await executor.stop();
    const rows = db.$client.prepare("SELECT status, attempts FROM work_items").all() as {
      status: string;
      attempts: number;
    }[];
    expect(rows.every((row) => row.status === "queued" && row.attempts === 0)).toBe(true);
  });

  it("never runs an item claimed ahead once its cancel aborted it", async () => {
    const world = createWorld({ max: 2, delayMs: 1 });
    enqueue(world.work, BATCH_LINE_LANE, 10);
    executor.start();
    executor.runOnce(); // before start's own claim, which is a turn away
    const ahead = db.$client
      .prepare("SELECT id, subject_id FROM work_items WHERE status = 'running' ORDER BY id DESC")
      .get() as { id: number; subject_id: string };
    expect(world.stats().ran).not.toContain(ahead.subject_id);
    world.work.cancelSubject(ahead.subject_id, Date.now());
    executor.abort(ahead.id);
    executor.wake();
    await until(() => world.stats().finished === 9);
    await executor.drain();
    expect(world.stats().ran).not.toContain(ahead.subject_id);
  });
});
