import { type Clock, unixSeconds } from "../lib/clock.js";
import { coerceError } from "../lib/coerce-error.js";
import type { Logger } from "../lib/logger.js";
import type { FileBlobStore } from "../store/file-blobs.js";
import type { RetentionStore } from "../store/retention.js";

/**
 * Retention: what ferry keeps, and for how long.
 *
 * - A finished response (completed, incomplete, failed or cancelled) is deleted
 *   `responsesSeconds` after it finished, with its stored SSE events and its work item. Stream
 *   events expire on the same clock, counted from their completed_at. A stream keeps its
 *   counters (total, completed, failed, tokens, latest_completion_id): they are running totals
 *   of everything the stream ever did, not a count of the events still stored.
 * - A finished batch (completed, failed, expired, cancelled) is deleted `batchesSeconds` after it
 *   ended, with its lines. Its output and error files follow their own expires_at (30 days by
 *   default, or the batch's output_expires_after); an input file ferry made for it (inline
 *   `requests`, a JSONL body) has no expires_at of its own and goes with the batch.
 * - A finished webhook delivery (delivered, failed, cancelled) goes `responsesSeconds` after its
 *   last attempt, with its attempts, and its event with its last delivery. Pending ones stay.
 * - Every file is deleted at its expires_at, row and bytes.
 * - A finished OctoAI future is deleted at its expires_at (24 h after it was created, as OctoAI
 *   keeps them), with its answer and its work item, whatever the policy says.
 * - Queued and running work is never deleted. `store: false` responses are never written.
 *
 * Deleted things are simply gone: every route answers 404 for them.
 */
export interface RetentionPolicy {
  /** null or 0: forever. */
  readonly responsesSeconds: number | null;
  /** null or 0: forever. */
  readonly batchesSeconds: number | null;
  readonly sweepIntervalMs: number;
}

export interface SweepCounts {
  responses: number;
  streamEvents: number;
  batches: number;
  batchLines: number;
  files: number;
  futures: number;
  orphanWorkItems: number;
  orphanBlobs: number;
  webhookDeliveries: number;
}

export interface RetentionSweeperDeps {
  readonly store: RetentionStore;
  readonly blobs: FileBlobStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly policy: RetentionPolicy;
}

/** Rows per transaction: each step holds the database for a millisecond or two at most. */
const STEP_ROWS = 500;
/** Batches per transaction (each batch's lines then go STEP_ROWS at a time). */
const BATCH_STEP = 50;
/** Work items looked at per sweep in the search for orphans; the walk resumes where it stopped. */
const ORPHAN_WORK_ROWS_PER_SWEEP = 20 * STEP_ROWS;
/** Bytes without a row are removed only once this old: never an upload about to get its row. */
const ORPHAN_BLOB_MIN_AGE_MS = 60 * 60 * 1000;
/** Listing the files directory is not free; it is done at most this often. */
const ORPHAN_BLOB_SCAN_INTERVAL_MS = 60 * 60 * 1000;

class SweepStopped extends Error {}

/**
 * Deletes what retention says is expired, while the server runs: every `sweepIntervalMs`, a
 * sweep in small transactions, yielding to the event loop between them. Sweeps never overlap.
 * Tests call `sweep()` directly with an injected clock.
 */
export function createRetentionSweeper(deps: RetentionSweeperDeps) {
  const { store, blobs, clock, logger, policy } = deps;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<SweepCounts> | null = null;
  let isStopping = false;
  let orphanWorkCursor = 0;
  let lastBlobScanMs: number | null = null;

  /** Lets requests run between steps; ends the sweep early once stop() was called. */
  async function yieldToServer(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (isStopping) {
      throw new SweepStopped();
    }
  }

  async function removeBytes(storagePaths: readonly string[]): Promise<void> {
    for (const storagePath of storagePaths) {
      try {
        await blobs.remove(storagePath);
      } catch (thrown) {
        // The row is gone already; the bytes are now an orphan for a later sweep.
        logger.warn({ err: coerceError(thrown), storagePath }, "could not remove file bytes");
      }
    }
  }

  async function sweepResponses(counts: SweepCounts, retentionSeconds: number): Promise<void> {
    const cutoff = unixSeconds(clock) - retentionSeconds;
    for (;;) {
      const expired = store.findExpiredResponses(cutoff, STEP_ROWS);
      // A long streamed response has many events: they go in steps of their own first, so
      // that the transaction deleting the rows stays small.
      for (const response of expired.filter((row) => row.isStreamed)) {
        while (store.deleteResponseEvents(response.id, STEP_ROWS) === STEP_ROWS) {
          await yieldToServer();
        }
      }
      const deleted = store.deleteResponses(expired.map((row) => row.id));
      counts.responses += deleted;
      if (expired.length < STEP_ROWS || deleted === 0) {
        return;
      }
      await yieldToServer();
    }
  }

  /**
   * Stream events are numbered in completion order, so the expired ones are the oldest: walk
   * from the first and stop at the first window with nothing to delete.
   */
  async function sweepStreamEvents(counts: SweepCounts, retentionSeconds: number): Promise<void> {
    const cutoff = unixSeconds(clock) - retentionSeconds;
    let afterSeq = 0;
    for (;;) {
      const window = store.deleteExpiredStreamEvents(afterSeq, cutoff, STEP_ROWS);
      counts.streamEvents += window.deleted;
      if (window.examined < STEP_ROWS || window.deleted === 0) {
        return;
      }
      afterSeq = window.lastKey;
      await yieldToServer();
    }
  }

  async function sweepWebhookDeliveries(
    counts: SweepCounts,
    retentionSeconds: number,
  ): Promise<void> {
    const cutoffMs = clock.nowMs() - retentionSeconds * 1000;
    for (;;) {
      const deleted = store.deleteFinishedWebhookDeliveries(cutoffMs, STEP_ROWS);
      counts.webhookDeliveries += deleted;
      if (deleted < STEP_ROWS) {
        return;
      }
      await yieldToServer();
    }
  }

  async function sweepBatches(counts: SweepCounts, retentionSeconds: number): Promise<void> {
    const cutoff = unixSeconds(clock) - retentionSeconds;
    for (;;) {
      // The rows go first (the batches are 404 from then on), then their lines. A crash in
      // between leaves lines without a batch, which sweepOrphanWork finds.
      const { batchIds, storagePaths } = store.deleteExpiredBatches(cutoff, BATCH_STEP);
      counts.batches += batchIds.length;
      for (const batchId of batchIds) {
        for (;;) {
          const deleted = store.deleteBatchLines(batchId, STEP_ROWS);
          counts.batchLines += deleted;
          if (deleted < STEP_ROWS) {
            break;
          }
          await yieldToServer();
        }
      }
      await removeBytes(storagePaths);
      if (batchIds.length < BATCH_STEP) {
        return;
      }
      await yieldToServer();
    }
  }

  async function sweepFiles(counts: SweepCounts): Promise<void> {
    for (;;) {
      const storagePaths = store.deleteExpiredFiles(unixSeconds(clock), STEP_ROWS);
      counts.files += storagePaths.length;
      await removeBytes(storagePaths);
      if (storagePaths.length < STEP_ROWS) {
        return;
      }
      await yieldToServer();
    }
  }

  async function sweepFutures(counts: SweepCounts): Promise<void> {
    for (;;) {
      const deleted = store.deleteExpiredFutures(unixSeconds(clock), STEP_ROWS);
      counts.futures += deleted;
      if (deleted < STEP_ROWS) {
        return;
      }
      await yieldToServer();
    }
  }

  /**
   * Work items whose subject is gone (a response deleted through the API, lines of a batch
   * whose deletion a crash cut short). Each sweep walks a bounded slice of the queue, resuming
   * where the last one stopped and starting over at the end.
   */
  async function sweepOrphanWork(counts: SweepCounts): Promise<void> {
    let examined = 0;
    while (examined < ORPHAN_WORK_ROWS_PER_SWEEP) {
      const window = store.deleteOrphanWork(orphanWorkCursor, STEP_ROWS);
      counts.orphanWorkItems += window.deleted;
      examined += window.examined;
      orphanWorkCursor = window.lastKey;
      if (window.examined < STEP_ROWS) {
        orphanWorkCursor = 0;
        return;
      }
      await yieldToServer();
    }
  }

  /** Bytes whose row is gone (a crash between the row's deletion and the bytes'), once old. */
  async function sweepOrphanBlobs(counts: SweepCounts): Promise<void> {
    const nowMs = clock.nowMs();
    if (lastBlobScanMs !== null && nowMs - lastBlobScanMs < ORPHAN_BLOB_SCAN_INTERVAL_MS) {
      return;
    }
    lastBlobScanMs = nowMs;
    let page: { id: string; storagePath: string }[] = [];
    const check = async () => {
      const withRows = store.findFileIds(page.map((blob) => blob.id));
      for (const blob of page) {
        if (withRows.has(blob.id)) {
          continue;
        }
        const modifiedAtMs = await blobs.modifiedAtMs(blob.storagePath);
        // The row is inserted just after the bytes land, so young bytes may be about to get one.
        if (modifiedAtMs !== null && clock.nowMs() - modifiedAtMs >= ORPHAN_BLOB_MIN_AGE_MS) {
          await blobs.remove(blob.storagePath);
          counts.orphanBlobs += 1;
        }
      }
      page = [];
      await yieldToServer();
    };
    for await (const blob of blobs.listStored()) {
      page.push(blob);
      if (page.length === STEP_ROWS) {
        await check();
      }
    }
    await check();
  }

  async function sweepOnce(): Promise<SweepCounts> {
    const counts: SweepCounts = {
      responses: 0,
      streamEvents: 0,
      batches: 0,
      batchLines: 0,
      files: 0,
      futures: 0,
      orphanWorkItems: 0,
      orphanBlobs: 0,
      webhookDeliveries: 0,
    };
    try {
      if (policy.responsesSeconds) {
        await sweepResponses(counts, policy.responsesSeconds);
        await sweepStreamEvents(counts, policy.responsesSeconds);
        await sweepWebhookDeliveries(counts, policy.responsesSeconds);
      }
      if (policy.batchesSeconds) {
        await sweepBatches(counts, policy.batchesSeconds);
      }
      await sweepFiles(counts);
      await sweepFutures(counts);
      await sweepOrphanWork(counts);
      await sweepOrphanBlobs(counts);
    } catch (thrown) {
      if (!(thrown instanceof SweepStopped)) {
        throw thrown;
      }
    }
    return counts;
  }

  function sweep(): Promise<SweepCounts> {
    running ??= sweepOnce().finally(() => {
      running = null;
    });
    return running;
  }

  return {
    /**
     * One sweep over everything retention covers; resolves with what it deleted. A sweep
     * already under way is joined rather than started again.
     */
    sweep,

    /** Sweeps every `sweepIntervalMs` until stop(); the timer never keeps the process alive. */
    start(): void {
      if (timer !== null) {
        return;
      }
      isStopping = false;
      timer = setInterval(() => {
        sweep().then(
          (counts) => {
            if (Object.values(counts).some((count) => count > 0)) {
              logger.info({ deleted: counts }, "retention sweep");
            }
          },
          (thrown: unknown) => {
            logger.error({ err: coerceError(thrown) }, "retention sweep failed");
          },
        );
      }, policy.sweepIntervalMs);
      timer.unref();
    },

    /** Stops the timer and waits for a sweep under way to reach its next step and end. */
    async stop(): Promise<void> {
      if (timer !== null) {
        clearInterval(timer);
        timer = null;
      }
      isStopping = true;
      try {
        await running;
      } catch {
        // Already logged by the timer's handler; stopping must not fail because of it.
      }
      isStopping = false;
    },
  };
}

export type RetentionSweeper = ReturnType<typeof createRetentionSweeper>;
