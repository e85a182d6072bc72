import type { Router } from "../backends/router.js";
import type { Executor } from "../executor/executor.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import { coerceError } from "../lib/coerce-error.js";
import { derivedId } from "../lib/ids.js";
import type { Logger } from "../lib/logger.js";
import type { BatchLineStore } from "../store/batch-lines.js";
import type { BatchStore } from "../store/batches.js";
import type { BatchRow, FileRow } from "../store/schema.js";
import { recordBatchEnded } from "../webhooks/emission.js";
import type { Outbox } from "../webhooks/outbox.js";
import { toBatchObject } from "./batch-object.js";
import { type BatchInputLimits, validateBatchInput } from "./batch-validation.js";
import type { FilesService } from "./files.js";
import type { KeyedNotifier } from "./keyed-notifier.js";

/** Output files are kept 30 days unless the batch says otherwise (OpenAI's default). */
const DEFAULT_OUTPUT_TTL_SECONDS = 30 * 24 * 3600;
/** Characters per write of an output or error file (V8 keeps strings under 128 KiB young). */
const CHUNK_CHARS = 32 * 1024;

export interface BatchSupervisorDeps {
  readonly batches: BatchStore;
  readonly lines: BatchLineStore;
  readonly files: FilesService;
  readonly router: Router;
  readonly executor: Pick<Executor, "wake" | "abort">;
  readonly transaction: (fn: () => void) => void;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly pollMs: number;
  readonly inputLimits: BatchInputLimits;
  /** Lines sharing a prompt prefix are dispatched together (config `batches.prefix_scheduling`). */
  readonly prefixScheduling: boolean;
  /** A failed step waits this long before it is tried again, doubling per attempt to retryMaxMs. */
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** Where a batch's end is recorded, inside the transaction that ends it. */
  readonly outbox: Outbox;
  /** Test-only fault injection: awaited after the files are written, before the final commit. */
  readonly beforeFinalizeCommit?: (batchId: string) => Promise<void>;
  /** Woken by batch id after the commit that ends a batch (GET ?wait_ms=). */
  readonly batchWaits: KeyedNotifier;
}

export interface BatchSupervisor {
  start(): void;
  stop(): Promise<void>;
  /** Look at this batch soon (it was created, cancelled, or one of its lines finished). */
  nudge(batchId: string): void;
  /** One pass over every unsettled batch; resolves when the steps it started are done. For tests. */
  sweep(): Promise<void>;
}

/**
 * Moves batches through their lifecycle; the only place besides create and cancel that changes
 * a batch's status. Every step is idempotent and restartable, so after a crash the first sweep
 * simply carries on: validating batches are validated again from scratch, finished ones are
 * finalized, cancelling and expired ones are wound up.
 *
 *   validating -> in_progress (all lines queued) | failed (validation errors)
 *   in_progress -> finalizing (every line answered) -> completed
 *   in_progress past expires_at -> expired;  cancelling -> cancelled (with what did finish)
 */
export function createBatchSupervisor(deps: BatchSupervisorDeps): BatchSupervisor {
  const { batches, lines, files, clock, logger } = deps;
  const busy = new Map<string, Promise<void>>();
  /** Batches whose last step failed: how often in a row, and when to try again. */
  const failures = new Map<string, { attempt: number; retryAtMs: number }>();
  const nudged = new Set<string>();
  let nudgeScheduled = false;
  let timer: NodeJS.Timeout | null = null;
  let isStopping = false;

  function advance(batch: BatchRow): Promise<void> {
    const running = busy.get(batch.id);
    if (running !== undefined || isStopping) {
      return running ?? Promise.resolve();
    }
    const failure = failures.get(batch.id);
    if (failure !== undefined && clock.nowMs() < failure.retryAtMs) {
      return Promise.resolve();
    }
    const step = runStep(batch)
      .then(
        () => {
          failures.delete(batch.id);
        },
        (thrown: unknown) => {
          // A step that cannot succeed now (the disk is full) would fail again at every poll:
          // wait longer after each failure, and say so once per attempt, not with a stack trace
          // every poll.
          const err = coerceError(thrown);
          const attempt = (failure?.attempt ?? 0) + 1;
          const retryInMs = Math.min(deps.retryBaseMs * 2 ** (attempt - 1), deps.retryMaxMs);
          failures.set(batch.id, { attempt, retryAtMs: clock.nowMs() + retryInMs });
          logger.warn(
            {
              batchId: batch.id,
              status: batch.status,
              attempt,
              retryInMs,
              reason: err.message,
              code: (err as NodeJS.ErrnoException).code,
            },
            "batch step failed; retrying after a back-off",
          );
        },
      )
      .finally(() => busy.delete(batch.id));
    busy.set(batch.id, step);
    return step;
  }

  async function runStep(batch: BatchRow): Promise<void> {
    const now = unixSeconds(clock);
    const isOverdue = batch.expiresAt <= now;
    switch (batch.status) {
      case "validating":
        return isOverdue ? expire(batch) : validate(batch);
      case "in_progress":
        if (batch.expiredAt !== null || isOverdue) {
          return expire(batch);
        }
        if (
          batch.completedCount + batch.failedCount >= batch.totalCount &&
          lines.countActive(batch.id) === 0
        ) {
          if (batches.beginFinalizing(batch.id, now)) {
            return finalize(batch.id, "completed");
          }
        }
        return;
      case "finalizing":
        return finalize(batch.id, "completed");
      case "cancelling":
        dropUncountedLines(batch);
        stopLines(batch.id);
        return finalize(batch.id, "cancelled");
      default:
        return;
    }
  }

  async function validate(batch: BatchRow): Promise<void> {
    // A validation cut short by a crash left some held lines: start over.
    lines.deleteAll(batch.id);
    const result = await validateBatchInput(
      {
        files,
        lines,
        router: deps.router,
        nowMs: () => clock.nowMs(),
        limits: deps.inputLimits,
        prefixScheduling: deps.prefixScheduling,
      },
      batch,
    );
    const now = unixSeconds(clock);
    deps.transaction(() => {
      if (!result.ok) {
        lines.deleteAll(batch.id);
        if (batches.failValidation(batch.id, result.errors, now)) {
          recordEnded(batch, "failed", now);
        }
      } else if (batches.startRunning(batch.id, result.total, result.model, now)) {
        lines.releaseHeld(batch.id);
      } else {
        // Cancelled while it was being validated: its lines were never counted (total stays
        // 0), so they go, rather than be counted as failed when the batch ends.
        lines.deleteAll(batch.id);
      }
    });
    if (!result.ok) {
      deps.batchWaits.notify(batch.id);
    }
    deps.executor.wake();
    deps.outbox.notify();
    const after = batches.findById(batch.id);
    if (after !== undefined && after.status !== "validating") {
      nudge(batch.id); // cancelled meanwhile, or already runnable
    }
  }

  /** Inside the transaction that ended the batch: its webhook event (and callback). */
  function recordEnded(
    batch: BatchRow,
    status: Parameters<typeof recordBatchEnded>[2],
    now: number,
  ) {
    recordBatchEnded(deps.outbox, batch, status, now, () => {
      const ended = batches.findById(batch.id);
      return ended === undefined ? null : toBatchObject(ended);
    });
  }

  /**
   * A batch that never started running has no counted lines, only held ones that a validation
   * cut short by a crash left behind: they go, so that request_counts add up (total 0, as
   * OpenAI reports a batch that ends before its lines were counted).
   */
  function dropUncountedLines(batch: BatchRow) {
    if (batch.inProgressAt === null) {
      lines.deleteAll(batch.id);
    }
  }

  async function expire(batch: BatchRow): Promise<void> {
    dropUncountedLines(batch);
    batches.markExpired(batch.id, unixSeconds(clock));
    stopLines(batch.id);
    await finalize(batch.id, "expired");
  }

  /** Cancels what has not run and aborts what is running; late results are dropped by the lease guard. */
  function stopLines(batchId: string) {
    const { runningIds } = lines.cancelActive(batchId, clock.nowMs());
    for (const id of runningIds) {
      deps.executor.abort(id);
    }
  }

  /**
   * Writes the output file (succeeded lines) and the error file (failed lines, plus those that
   * never ran, as `batch_cancelled` / `batch_expired`), then ends the batch in one guarded
   * transaction that also records the files. The files' ids are derived from the batch id and
   * their bytes are written unrecorded first, so the whole step can be cut anywhere (a kill -9)
   * and run again: a re-run rewrites the same two files in place, and only the commit makes
   * them visible. A step that fails before its commit deletes what it wrote.
   */
  async function finalize(
    batchId: string,
    status: "completed" | "cancelled" | "expired",
  ): Promise<void> {
    const batch = batches.findById(batchId);
    if (batch === undefined || isEnded(batch.status)) {
      return;
    }
    const unrunCode = status === "expired" ? "batch_expired" : "batch_cancelled";
    const unrunMessage =
      status === "expired"
        ? "This request could not be executed before the completion window expired."
        : "This request was not executed because the batch was cancelled.";
    const expiresAt =
      unixSeconds(clock) + (batch.outputExpiresAfterSeconds ?? DEFAULT_OUTPUT_TTL_SECONDS);
    lines.fillUnrun(batchId, unrunCode, unrunMessage);
    // Each file streams its lines' stored JSON text straight from the database; a file with no
    // lines is not created at all.
    const stage = async (file: "output" | "error") => {
      const pages = lines.resultPages(batchId, file);
      const first = pages.next();
      if (first.done === true) {
        return null;
      }
      async function* content() {
        yield* toJsonlChunks(first.value);
        for (const page of pages) {
          yield* toJsonlChunks(page);
        }
      }
      return files.stageGenerated(batch.projectId, derivedId("file", `${batchId}:${file}`), {
        filename: `${batchId}_${file}.jsonl`,
        purpose: "batch_output",
        expiresAt,
        content: content(),
      });
    };
    const staged: FileRow[] = [];
    let isFinished = false;
    try {
      const output = await stage("output");
      if (output !== null) {
        staged.push(output);
      }
      const error = await stage("error");
      if (error !== null) {
        staged.push(error);
      }
      await deps.beforeFinalizeCommit?.(batchId);
      const unrun = lines.countUnrun(batchId);
      deps.transaction(() => {
        isFinished = batches.finish(
          batchId,
          { status, outputFileId: output?.id ?? null, errorFileId: error?.id ?? null },
          unixSeconds(clock),
        );
        if (isFinished) {
          for (const row of staged) {
            files.recordStaged(row);
          }
          batches.countUnrun(batchId, unrun);
          recordEnded(batch, status, unixSeconds(clock));
        }
      });
      if (isFinished) {
        deps.batchWaits.notify(batchId);
        deps.outbox.notify();
      }
    } finally {
      if (!isFinished) {
        // Failed, or someone else ended the batch first: these bytes are nobody's.
        for (const row of staged) {
          await files.discardStaged(row);
        }
      }
    }
  }

  function nudge(batchId: string) {
    nudged.add(batchId);
    if (!nudgeScheduled && !isStopping) {
      nudgeScheduled = true;
      setImmediate(() => {
        nudgeScheduled = false;
        if (isStopping) {
          return;
        }
        const ids = [...nudged];
        nudged.clear();
        for (const id of ids) {
          const batch = batches.findById(id);
          if (batch !== undefined) {
            void advance(batch);
          }
        }
      });
    }
  }

  async function sweep(): Promise<void> {
    const unsettled = batches.listUnsettled(unixSeconds(clock));
    await Promise.all(unsettled.map((batch) => advance(batch)));
  }

  return {
    start() {
      void sweep();
      timer = setInterval(() => void sweep(), deps.pollMs);
      timer.unref();
    },
    async stop() {
      isStopping = true;
      if (timer !== null) {
        clearInterval(timer);
      }
      await Promise.allSettled([...busy.values()]);
    },
    nudge,
    sweep,
  };
}

/** Completed, failed, cancelled or expired: nothing about the batch changes any more. */
export function isEnded(status: BatchRow["status"]): boolean {
  return (
    status === "completed" || status === "failed" || status === "cancelled" || status === "expired"
  );
}

/**
 * JSONL in chunks of about CHUNK_CHARS: few writes, and no string or buffer so large that V8
 * puts it in the large-object space, where it would stay until the next full GC.
 */
function* toJsonlChunks(texts: readonly string[]): Generator<string> {
  let chunk: string[] = [];
  let chars = 0;
  for (const text of texts) {
    chunk.push(text);
    chars += text.length + 1;
    if (chars >= CHUNK_CHARS) {
      yield `${chunk.join("\n")}\n`;
      chunk = [];
      chars = 0;
    }
  }
  if (chunk.length > 0) {
    yield `${chunk.join("\n")}\n`;
  }
}
