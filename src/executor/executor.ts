import { randomBytes } from "node:crypto";
import type { Limiter, Slot, SlotPriority } from "../backends/limiter.js";
import type { Clock } from "../lib/clock.js";
import { coerceError } from "../lib/coerce-error.js";
import type { Logger } from "../lib/logger.js";
import {
  type ClaimedWork,
  type ClaimRotation,
  createClaimRotation,
  type LaneShares,
  type WorkStore,
} from "../store/work-items.js";
import { createLaneShares } from "./lane-shares.js";
import { decideRetry, type RetryPolicy } from "./retry.js";

/**
 * The durable executor: claims queued work per backend (within its free concurrency), runs it
 * through the handler for its kind, and commits results in batched transactions.
 *
 * Slots: a claim takes one of the backend limiter's slots per item it claims, at its lane's
 * priority (batch lanes only up to the limit less the interactive reserve), and the item's
 * backend call uses that slot (see limited-backend.ts), so claimed work never queues in the
 * limiter and the executor never claims more than the backend can run. The call gives its slot
 * back the moment it ends (the executor releases it too when the handler returns, for a handler
 * that made no call), not when the result is committed; every freed slot (and a grown adaptive
 * limit) wakes the executor, which claims again on the next turn of the event loop: one claim per
 * turn however many slots freed in it, and no waiting for the poll tick. A backend whose last
 * claim found nothing ready is not claimed for again on a freed slot (a sync request's, say),
 * only after a wake() that says work may have come (an enqueue, a retry or lease coming due, the
 * poll tick): otherwise every sync call would cost an empty write transaction.
 *
 * States of one claimed item, as this process sees it:
 *   running --handler ok--> pending commit --flush--> succeeded (if the lease is still ours)
 *   running --retryable error, attempts left--> queued again with not_before (backoff)
 *   running --other error--> pending commit of the handler's failure result --> failed
 *   running --cancelled (abort from cancel())--> nothing: the cancel already wrote the outcome
 *   running --stop()--> released: queued again, the attempt not counted
 * A crash leaves rows `running` with a lease that expires; `requeueExpired` puts them back.
 */

export interface WorkOutcome {
  /** Kept as the work item's own result (JSON), written by the statement that finishes it. */
  readonly result?: Record<string, unknown>;
  /**
   * The same, already JSON text: a handler with a large result serialises it in slices while it
   * runs, so the results transaction (one synchronous block for every result in it) only copies it.
   */
  readonly resultText?: string;
  /**
   * Writes the rest of the outcome (other tables, accumulated counters). Runs inside the results
   * transaction, only if the lease is still ours.
   */
  commit(transaction: ResultsTransaction): void;
  /** Runs after that transaction committed (wake waiters, publish events). */
  afterCommit?(): void;
}

/** What a results transaction offers the outcomes committed in it. */
export interface ResultsTransaction {
  /**
   * The accumulator for `key` in this transaction, made by `create` on first use. `write` (the
   * first caller's) runs once, after every outcome's commit and still inside the transaction: one
   * statement per key (a batch's counters, say) instead of one per result. Since it is written in
   * the same transaction as the results it sums, a rollback takes both: they cannot disagree.
   */
  accumulate<T>(key: string, create: () => T, write: (value: T) => void): T;
}

export interface WorkHandler {
  /** Runs once per claim batch inside the claim's own follow-up (e.g. mark responses in_progress). */
  onClaimed?(items: readonly ClaimedWork[]): void;
  /**
   * Runs the item. `slot` is the backend slot the executor took for it: pass it to the backend
   * call made for the item (its call options), which then holds it instead of acquiring another.
   */
  run(item: ClaimedWork, signal: AbortSignal, slot: Slot): Promise<WorkOutcome>;
  /** The outcome of an item that failed for good. */
  onFailure(item: ClaimedWork, err: Error): WorkOutcome;
}

export interface ExecutorBackend {
  readonly name: string;
  readonly limiter: Limiter;
}

export interface ExecutorOptions {
  readonly leaseMs: number;
  /** How long an idle executor waits before looking for due work (retries, expired leases). */
  readonly pollMs: number;
  readonly retry: RetryPolicy;
  /** Results wait at most this long (or for this many) before their transaction commits. */
  readonly commitBatchSize: number;
}

export interface ExecutorDeps {
  readonly work: WorkStore;
  /** Runs `fn` in one database transaction. */
  readonly transaction: (fn: () => void) => void;
  readonly backends: readonly ExecutorBackend[];
  readonly handlers: Readonly<Record<string, WorkHandler>>;
  /**
   * Each lane's weight in its backend's claims (see lane-shares.ts); a lane not listed weighs 1.
   * Higher-priority lanes weigh more, and every lane with ready work gets its share.
   */
  readonly laneWeights: ReadonlyMap<number, number>;
  /** The slot priority of each lane's work; a lane not listed (or none given) is "background". */
  readonly lanePriorities?: ReadonlyMap<number, SlotPriority>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly options: ExecutorOptions;
}

export interface Executor {
  /** A unique name for this process's leases. */
  readonly leaseOwner: string;
  start(): void;
  /** Stops claiming, aborts in-flight work and gives its leases back; resolves when all is written. */
  stop(): Promise<void>;
  /** Look for work now (after an enqueue, or a freed slot). */
  wake(): void;
  /** Aborts the in-flight run of a work item (after a cancel has been recorded). */
  abort(workItemId: number): void;
  /** One claim pass over every backend; returns how many items were started. For tests. */
  runOnce(): number;
  /** Resolves when nothing is in flight or waiting to commit. For tests and benchmarks. */
  drain(): Promise<void>;
  inFlight(): number;
}

const CANCELLED = "cancelled";
/** Result text one results transaction takes before the rest wait for the next (see flush). */
const RESULT_CHARS_PER_TRANSACTION = 8 * 1024 * 1024;
const STOPPING = "stopping";

export function createExecutor(deps: ExecutorDeps): Executor {
  const { work, clock, logger, options } = deps;
  const leaseOwner = `executor_${randomBytes(8).toString("hex")}`;
  const running = new Map<number, { controller: AbortController; promise: Promise<void> }>();
  const pending: {
    item: ClaimedWork;
    status: "succeeded" | "failed";
    error: string | null;
    outcome: WorkOutcome;
  }[] = [];
  // Per backend: its lane shares and round-robin positions, carried from one claim to the next.
  const fairnessByBackend = new Map<string, { lanes: LaneShares; rotation: ClaimRotation }>();
  let isStarted = false;
  let isStopping = false;
  let tickScheduled = false;
  /** Backends whose last claim found no ready work; cleared by wake(). */
  const drained = new Set<string>();
  let pollTimer: NodeJS.Timeout | null = null;
  let heartbeatTimer: NodeJS.Timeout | null = null;
  let flushScheduled = false;
  let idleWaiters: (() => void)[] = [];
  const unsubscribers: (() => void)[] = [];

  /**
   * Batch items claimed ahead of free slots, per backend, oldest claim first: a fast upstream
   * frees a slot or two per event-loop turn, and a claim (one IMMEDIATE transaction, its key
   * scans and updates) per freed slot cost more than the call. Claiming a few more than the free
   * slots and starting them from here as slots free makes one claim serve many calls. They are
   * ours (running, leased, heartbeated) from the claim on; a stop gives them back uncounted, a
   * cancel drops them. Only batch lanes are claimed ahead: other work takes free slots only.
   */
  const claimedAhead = new Map<string, ClaimedWork[]>();
  /** Backends whose last claim ahead found fewer batch items than it had room for. */
  const aheadDrained = new Set<string>();
  /** Backends a wake() asked to claim for (new work may be in any lane): claim before the queue. */
  const wokenBackends = new Set<string>();

  /**
   * How many batch items a backend keeps claimed ahead: a quarter of its ceiling, 4 to 32. Of the
   * ceiling, not the adaptive limit: a limit that came down (a fast upstream, ferry's own CPU the
   * bound) frees slots as often as before, and small claims would only cost more per call.
   */
  function aheadTarget(limiter: Limiter): number {
    return Math.min(32, Math.max(4, Math.ceil(limiter.max / 4)));
  }

  function startClaimedAhead(backend: ExecutorBackend): number {
    const queue = claimedAhead.get(backend.name);
    let started = 0;
    while (queue !== undefined && queue.length > 0) {
      const slot = backend.limiter.tryAcquire("batch");
      if (slot === null) {
        break;
      }
      const item = queue.shift() as ClaimedWork;
      launch(item, slot);
      started++;
    }
    return started;
  }

  function runOnce(): number {
    if (isStopping) {
      return 0;
    }
    let started = 0;
    for (const backend of deps.backends) {
      let queue = claimedAhead.get(backend.name);
      if (queue === undefined) {
        queue = [];
        claimedAhead.set(backend.name, queue);
      }
      const isWoken = wokenBackends.delete(backend.name);
      if (!isWoken) {
        // Nothing new announced: the items claimed ahead go first, and the queue is read only
        // once they run low.
        started += startClaimedAhead(backend);
      }
      const target = aheadTarget(backend.limiter);
      if (drained.has(backend.name) || (!isWoken && queue.length > target / 2)) {
        continue;
      }
      started += claimFor(backend, queue);
      started += startClaimedAhead(backend);
      // Only a started executor claims ahead: it is what starts them as slots free (a test that
      // drives runOnce() by hand would leave them claimed and never run).
      if (isStarted && queue.length <= target / 2 && !drained.has(backend.name)) {
        claimAhead(backend, queue, target - queue.length);
      }
    }
    return started;
  }

  function fairnessOf(backend: ExecutorBackend) {
    let fairness = fairnessByBackend.get(backend.name);
    if (fairness === undefined) {
      fairness = { lanes: createLaneShares(deps.laneWeights), rotation: createClaimRotation() };
      fairnessByBackend.set(backend.name, fairness);
    }
    return fairness;
  }

  /** One claim of `backend`'s free slots, each lane within its cap; starts what it claimed. */
  function claimFor(backend: ExecutorBackend, queue: readonly ClaimedWork[]): number {
    const { limiter } = backend;
    // Background work may fill the whole limit; batch work stops short of the reserve, and
    // leaves the slots it may have to the items already claimed ahead.
    const limit = limiter.available("background");
    if (limit <= 0) {
      return 0;
    }
    const batchLimit = Math.max(0, limiter.available("batch") - queue.length);
    const fairness = fairnessOf(backend);
    const claimed = work.claim({
      backend: backend.name,
      leaseOwner,
      limit,
      nowMs: clock.nowMs(),
      leaseMs: options.leaseMs,
      lanes: fairness.lanes,
      rotation: fairness.rotation,
      laneLimit: (lane) => (priorityOf(lane) === "batch" ? batchLimit : limit),
    });
    if (claimed.length === 0) {
      // Only a claim that every lane could take from found the queue empty; with the batch
      // lanes held at the reserve, batch work may still be waiting for a slot.
      if (batchLimit > 0) {
        drained.add(backend.name);
      }
      return 0;
    }
    // Synchronous since available() was read, so every item gets its slot; an item that did
    // not (two batch lanes sharing one cap) goes back to the queue, its attempt not counted.
    const runnable: { item: ClaimedWork; slot: Slot }[] = [];
    for (const item of claimed) {
      const slot = limiter.tryAcquire(priorityOf(item.lane));
      if (slot === null) {
        work.release(item.id, leaseOwner);
      } else {
        runnable.push({ item, slot });
      }
    }
    notifyClaimed(runnable.map((entry) => entry.item));
    for (const { item, slot } of runnable) {
      launch(item, slot);
    }
    return runnable.length;
  }

  /** Claims up to `room` batch items ahead of free slots (batch lanes only), into `queue`. */
  function claimAhead(backend: ExecutorBackend, queue: ClaimedWork[], room: number) {
    if (room <= 0 || deps.lanePriorities === undefined || aheadDrained.has(backend.name)) {
      return;
    }
    const fairness = fairnessOf(backend);
    const claimed = work.claim({
      backend: backend.name,
      leaseOwner,
      limit: room,
      nowMs: clock.nowMs(),
      leaseMs: options.leaseMs,
      lanes: fairness.lanes,
      rotation: fairness.rotation,
      laneLimit: (lane) => (priorityOf(lane) === "batch" ? room : 0),
    });
    if (claimed.length < room) {
      aheadDrained.add(backend.name); // no more ready batch work: not again until a wake()
    }
    notifyClaimed(claimed);
    queue.push(...claimed);
  }

  function priorityOf(lane: number): SlotPriority {
    return deps.lanePriorities?.get(lane) ?? "background";
  }

  function notifyClaimed(claimed: readonly ClaimedWork[]) {
    const byKind = new Map<string, ClaimedWork[]>();
    for (const item of claimed) {
      const items = byKind.get(item.kind);
      if (items === undefined) {
        byKind.set(item.kind, [item]);
      } else {
        items.push(item);
      }
    }
    for (const [kind, items] of byKind) {
      const handler = deps.handlers[kind];
      if (handler?.onClaimed !== undefined) {
        deps.transaction(() => handler.onClaimed?.(items));
      }
    }
  }

  function launch(item: ClaimedWork, slot: Slot) {
    const controller = new AbortController();
    const promise = execute(item, controller, slot).finally(() => {
      running.delete(item.id);
      refill();
      settleIfIdle();
    });
    running.set(item.id, { controller, promise });
  }

  async function execute(
    item: ClaimedWork,
    controller: AbortController,
    slot: Slot,
  ): Promise<void> {
    const handler = deps.handlers[item.kind];
    if (handler === undefined) {
      slot.release();
      logger.error({ workItemId: item.id, kind: item.kind }, "no handler for work kind");
      work.finish(item.id, leaseOwner, "failed", clock.nowMs(), `no handler for kind ${item.kind}`);
      return;
    }
    try {
      const outcome = await runHolding(handler, item, controller.signal, slot);
      queueCommit({ item, status: "succeeded", error: null, outcome });
    } catch (thrown) {
      const reason: unknown = controller.signal.reason;
      if (controller.signal.aborted && reason === CANCELLED) {
        return; // the cancel transaction already recorded the outcome and cancelled the row
      }
      if (controller.signal.aborted && reason === STOPPING) {
        work.release(item.id, leaseOwner);
        return;
      }
      const err = coerceError(thrown);
      const decision = decideRetry(err, item.attempts, options.retry);
      if (decision.retry) {
        logger.debug(
          {
            workItemId: item.id,
            attempt: item.attempts,
            delayMs: decision.delayMs,
            err: err.message,
          },
          "retrying",
        );
        work.retryLater(item.id, leaseOwner, clock.nowMs() + decision.delayMs, err.message);
        schedulePoll(decision.delayMs);
        return;
      }
      queueCommit({
        item,
        status: "failed",
        error: err.message,
        outcome: handler.onFailure(item, err),
      });
    }
  }

  /** The handler's run; its slot is free again once it returns, whether or not a call took it. */
  async function runHolding(
    handler: WorkHandler,
    item: ClaimedWork,
    signal: AbortSignal,
    slot: Slot,
  ): Promise<WorkOutcome> {
    try {
      return await handler.run(item, signal, slot);
    } finally {
      slot.release();
    }
  }

  function queueCommit(entry: (typeof pending)[number]) {
    pending.push(entry);
    if (pending.length >= options.commitBatchSize) {
      flush();
    } else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  }

  /**
   * Writes pending results in one transaction; results whose lease was lost are dropped. A
   * transaction is one synchronous block, so results given as text (the large ones) stop a group
   * once it holds RESULT_CHARS_PER_TRANSACTION: the rest stay pending (their leases still
   * extended by the heartbeat) for the next flush, after other work has had the event loop.
   * Six 135 MB embeddings lines in one transaction held it for 12 s; one at a time, 2 s each.
   */
  function flush() {
    flushScheduled = false;
    if (pending.length === 0) {
      return;
    }
    let chars = 0;
    let take = 0;
    while (take < pending.length && (take === 0 || chars < RESULT_CHARS_PER_TRANSACTION)) {
      chars += pending[take]?.outcome.resultText?.length ?? 0;
      if (take > 0 && chars > RESULT_CHARS_PER_TRANSACTION) {
        break;
      }
      take++;
    }
    const batch = pending.splice(0, take);
    if (pending.length > 0 && !flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
    const committed: WorkOutcome[] = [];
    try {
      deps.transaction(() => {
        const nowMs = clock.nowMs();
        const transaction = createResultsTransaction();
        for (const entry of batch) {
          const { item, status, error, outcome } = entry;
          const result = outcome.resultText ?? outcome.result ?? null;
          if (work.finish(item.id, leaseOwner, status, nowMs, error, result)) {
            outcome.commit(transaction);
            committed.push(outcome);
          }
        }
        transaction.writeAccumulated();
      });
    } catch (thrown) {
      // Nothing of this batch was written (one transaction). The rows stay running under our
      // lease, which the heartbeat no longer extends (they are neither running nor pending):
      // once it expires they are re-queued and run again, so the results are delayed, never lost.
      logger.error({ err: coerceError(thrown), count: batch.length }, "committing results failed");
      settleIfIdle();
      return;
    }
    for (const outcome of committed) {
      try {
        outcome.afterCommit?.();
      } catch (thrown) {
        logger.error({ err: coerceError(thrown) }, "after-commit hook failed");
      }
    }
    settleIfIdle();
  }

  function tick() {
    tickScheduled = false;
    if (!isStarted || isStopping) {
      return;
    }
    try {
      const started = runOnce();
      if (started > 0) {
        refill(); // there may be more, and more free slots
      }
    } catch (thrown) {
      logger.error({ err: coerceError(thrown) }, "claiming work failed");
    }
  }

  /** Work may have come: claim for every backend on the next turn. */
  function wake() {
    forgetDrained();
    refill();
  }

  /** Every backend may have ready work again: its next claim runs, before its claimed-ahead. */
  function forgetDrained() {
    drained.clear();
    aheadDrained.clear();
    for (const backend of deps.backends) {
      wokenBackends.add(backend.name);
    }
  }

  /** Slots freed: claim on the next turn, for the backends that had work at their last claim. */
  function refill() {
    if (isStarted && !isStopping && !tickScheduled) {
      tickScheduled = true;
      setImmediate(tick);
    }
  }

  function schedulePoll(delayMs: number) {
    if (!isStarted || isStopping) {
      return;
    }
    setTimeout(wake, delayMs + 1).unref();
  }

  /** Nothing running, waiting to commit, or claimed ahead. */
  function isIdle() {
    return (
      running.size === 0 &&
      pending.length === 0 &&
      [...claimedAhead.values()].every((queue) => queue.length === 0)
    );
  }

  function settleIfIdle() {
    if (isIdle()) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) {
        resolve();
      }
    }
  }

  return {
    leaseOwner,
    start() {
      if (isStarted) {
        return;
      }
      isStarted = true;
      for (const backend of deps.backends) {
        unsubscribers.push(backend.limiter.onFree(refill));
      }
      // Work left running by a crashed process comes back once its lease expires.
      const requeued = work.requeueExpired(clock.nowMs());
      if (requeued > 0) {
        logger.info({ requeued }, "re-queued work whose lease had expired");
      }
      pollTimer = setInterval(() => {
        try {
          work.requeueExpired(clock.nowMs());
        } catch (thrown) {
          logger.error({ err: coerceError(thrown) }, "re-queueing expired leases failed");
        }
        wake();
      }, options.pollMs);
      pollTimer.unref();
      // Only the owner extends its leases, well before they run out, and only of the rows it is
      // still running or about to commit.
      heartbeatTimer = setInterval(
        () => {
          const ahead = [...claimedAhead.values()].flat();
          if (running.size > 0 || pending.length > 0 || ahead.length > 0) {
            const ids = [
              ...running.keys(),
              ...pending.map((entry) => entry.item.id),
              ...ahead.map((item) => item.id),
            ];
            try {
              work.heartbeat(leaseOwner, ids, clock.nowMs() + options.leaseMs);
            } catch (thrown) {
              logger.error({ err: coerceError(thrown) }, "lease heartbeat failed");
            }
          }
        },
        Math.max(50, Math.floor(options.leaseMs / 3)),
      );
      heartbeatTimer.unref();
      wake();
    },
    async stop() {
      isStopping = true;
      for (const unsubscribe of unsubscribers.splice(0)) {
        unsubscribe();
      }
      if (pollTimer !== null) {
        clearInterval(pollTimer);
      }
      if (heartbeatTimer !== null) {
        clearInterval(heartbeatTimer);
      }
      for (const { controller } of running.values()) {
        controller.abort(STOPPING);
      }
      // Claimed ahead, never started: back to the queue, the attempt not counted.
      for (const queue of claimedAhead.values()) {
        for (const item of queue.splice(0)) {
          try {
            work.release(item.id, leaseOwner);
          } catch (thrown) {
            // Its lease runs out and it is re-queued then: delayed, not lost.
            logger.error(
              { err: coerceError(thrown), workItemId: item.id },
              "releasing work failed",
            );
          }
        }
      }
      await Promise.allSettled([...running.values()].map((entry) => entry.promise));
      while (pending.length > 0) {
        flush();
      }
    },
    wake,
    abort(workItemId) {
      running.get(workItemId)?.controller.abort(CANCELLED);
      // Claimed ahead and not started: the cancel already wrote its outcome; it just never runs.
      for (const queue of claimedAhead.values()) {
        const index = queue.findIndex((item) => item.id === workItemId);
        if (index !== -1) {
          queue.splice(index, 1);
          settleIfIdle();
        }
      }
    },
    runOnce() {
      forgetDrained();
      return runOnce();
    },
    drain() {
      if (isIdle()) {
        return Promise.resolve();
      }
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    inFlight: () => running.size,
  };
}

/** One results transaction's accumulators; lives and dies with that transaction. */
function createResultsTransaction(): ResultsTransaction & { writeAccumulated(): void } {
  const accumulators = new Map<string, { value: unknown; write: (value: unknown) => void }>();
  return {
    accumulate<T>(key: string, create: () => T, write: (value: T) => void): T {
      const existing = accumulators.get(key);
      if (existing !== undefined) {
        return existing.value as T;
      }
      const value = create();
      accumulators.set(key, { value, write: write as (value: unknown) => void });
      return value;
    },
    writeAccumulated() {
      for (const { value, write } of accumulators.values()) {
        write(value);
      }
    },
  };
}
