import type { Db } from "./db.js";

/**
 * The retention sweeper's queries (services/retention.ts drives them). Each call is one short
 * statement or one short transaction over at most `limit` rows, so the sweeper can yield to the
 * server between calls and never holds the database for long.
 *
 * Invariants:
 * - Only finished things are deleted: a response that is queued or in_progress, and a batch that
 *   is validating, in_progress, finalizing or cancelling, is never touched, however old.
 * - A row goes before its bytes: file deletions return the storage paths and the caller removes
 *   the bytes after the commit. A crash in between leaves bytes without a row (an orphan, which
 *   the sweeper removes later), never a row without bytes.
 * - Nothing here needs an index of its own: responses are found through (project_id, created_at)
 *   one project at a time, stream events and orphan work through their integer keys, and batches
 *   and files are small tables next to work_items.
 */

/** The work kinds (services/background-responses.ts, services/batch-line-handler.ts). */
const RESPONSE_WORK = "response";
const BATCH_LINE_WORK = "batch_line";
const FUTURE_WORK = "future"; // services/future-work-handler.ts

export interface ExpiredResponse {
  readonly id: string;
  /** Created with background + stream=true: it has stored SSE events. */
  readonly isStreamed: boolean;
}

/** One window of a walk over a table's integer key. */
export interface WindowResult {
  /** Rows looked at; 0 means the walk reached the end of the table. */
  readonly examined: number;
  readonly deleted: number;
  /** The last key looked at: where the next window starts. */
  readonly lastKey: number;
}

export interface DeletedBatches {
  readonly batchIds: string[];
  /** Bytes of the input files that went with their batches, to remove after the commit. */
  readonly storagePaths: string[];
}

export interface RetentionStore {
  /**
   * Up to `limit` finished responses (any project) that finished at or before `cutoffSeconds`.
   * "Finished" is completed_at, or, for a response that ended without one (cancelled, failed,
   * expired), the time its work item ended, or else its created_at.
   */
  findExpiredResponses(cutoffSeconds: number, limit: number): ExpiredResponse[];
  /** Deletes up to `limit` stored SSE events of one response; returns how many. */
  deleteResponseEvents(responseId: string, limit: number): number;
  /**
   * Deletes the given responses (only finished ones) with their remaining events and their work
   * items, in one transaction. Returns how many responses went.
   */
  deleteResponses(ids: readonly string[]): number;
  /**
   * Looks at the `limit` stream events after `afterSeq` and deletes those completed at or before
   * `cutoffSeconds`. Stream counters are not touched: they are running totals.
   */
  deleteExpiredStreamEvents(afterSeq: number, cutoffSeconds: number, limit: number): WindowResult;
  /**
   * Deletes up to `limit` finished batches that ended at or before `cutoffSeconds`, in one
   * transaction, with the input files ferry made for them (inline `requests` and JSONL bodies:
   * purpose "batch" with no expires_at of their own) unless another batch still names them. The
   * batches' lines are left for `deleteBatchLines` (a batch may have 50,000 of them).
   */
  deleteExpiredBatches(cutoffSeconds: number, limit: number): DeletedBatches;
  /** Deletes up to `limit` lines of a batch (whose row is gone); returns how many. */
  deleteBatchLines(batchId: string, limit: number): number;
  /**
   * Deletes up to `limit` files whose expires_at is at or before `nowSeconds`, except the input
   * file of a batch still validating (it is being read). Returns the storage paths.
   */
  deleteExpiredFiles(nowSeconds: number, limit: number): string[];
  /**
   * Looks at the `limit` work items after `afterId` and deletes the orphans among them: finished
   * response work whose response is gone (deleted through the API) and batch lines whose batch
   * is gone (a crash cut a batch's deletion short), with the callbacks of those responses.
   */
  deleteOrphanWork(afterId: number, limit: number): WindowResult;
  /**
   * Deletes up to `limit` finished webhook deliveries (delivered, failed, cancelled) whose last
   * attempt was due at or before `cutoffMs`, with their attempts, and their events once no
   * delivery of them is left, in one transaction. Pending ones are never touched. Returns how
   * many deliveries went.
   */
  deleteFinishedWebhookDeliveries(cutoffMs: number, limit: number): number;
  /**
   * Deletes up to `limit` finished futures whose expires_at is at or before `nowSeconds`, with
   * their work items, in one transaction; returns how many futures went.
   */
  deleteExpiredFutures(nowSeconds: number, limit: number): number;
  /** Which of these file ids have a row. */
  findFileIds(ids: readonly string[]): Set<string>;
}

export function createRetentionStore(db: Db): RetentionStore {
  const sqlite = db.$client;

  // One project at a time through responses_project_time (project_id, created_at): the
  // recursive CTE finds the distinct projects in a few index seeks, and for each only the rows
  // created before the cutoff are read (a response cannot finish before it was created). A plain
  // scan would read the whole table, JSON columns and all, on every sweep.
  const expiredResponses = sqlite.prepare(
    `WITH RECURSIVE projects(id) AS (
       SELECT MIN(project_id) FROM responses
       UNION ALL
       SELECT (SELECT MIN(project_id) FROM responses WHERE project_id > projects.id)
       FROM projects WHERE projects.id IS NOT NULL
     )
     SELECT r.id AS id, r.streamed AS streamed
     FROM projects p CROSS JOIN responses r
     WHERE p.id IS NOT NULL
       AND r.project_id = p.id
       AND r.created_at <= @cutoff
       AND r.status NOT IN ('queued', 'in_progress')
       AND COALESCE(
             r.completed_at,
             (SELECT MAX(w.finished_at_ms) FROM work_items w
              WHERE w.subject_id = r.id AND w.kind = '${RESPONSE_WORK}') / 1000,
             r.created_at
           ) <= @cutoff
     LIMIT @limit`,
  );
  const deleteEventsOfResponse = sqlite.prepare(
    `DELETE FROM response_events WHERE rowid IN (
       SELECT rowid FROM response_events WHERE response_id = ? LIMIT ?
     )`,
  );
  // response_events go by the foreign key's ON DELETE CASCADE.
  const deleteResponseRows = sqlite.prepare(
    `DELETE FROM responses
     WHERE id IN (SELECT value FROM json_each(?)) AND status NOT IN ('queued', 'in_progress')
     RETURNING id`,
  );
  const deleteResponseWork = sqlite.prepare(
    `DELETE FROM work_items
     WHERE subject_id IN (SELECT value FROM json_each(?)) AND kind = '${RESPONSE_WORK}'
       AND status IN ('succeeded', 'failed', 'cancelled')`,
  );
  // A callback goes with its subject (response or batch): its credentials are kept no longer.
  const deleteCallbacks = sqlite.prepare(
    "DELETE FROM request_callbacks WHERE subject_id IN (SELECT value FROM json_each(?))",
  );
  const deleteResponsesTransaction = sqlite.transaction((ids: readonly string[]) => {
    const deleted = (deleteResponseRows.all(JSON.stringify(ids)) as { id: string }[]).map(
      (row) => row.id,
    );
    if (deleted.length > 0) {
      deleteResponseWork.run(JSON.stringify(deleted));
      deleteCallbacks.run(JSON.stringify(deleted));
    }
    return deleted.length;
  });

  const streamWindowEnd = sqlite.prepare(
    `SELECT COUNT(*) AS examined, MAX(seq) AS lastKey
     FROM (SELECT seq FROM stream_events WHERE seq > ? ORDER BY seq LIMIT ?)`,
  );
  const deleteStreamWindow = sqlite.prepare(
    `DELETE FROM stream_events WHERE seq > ? AND seq <= ? AND completed_at <= ?`,
  );
  const streamWindowTransaction = sqlite.transaction(
    (afterSeq: number, cutoff: number, limit: number): WindowResult => {
      const window = streamWindowEnd.get(afterSeq, limit) as {
        examined: number;
        lastKey: number | null;
      };
      if (window.examined === 0 || window.lastKey === null) {
        return { examined: 0, deleted: 0, lastKey: afterSeq };
      }
      const deleted = deleteStreamWindow.run(afterSeq, window.lastKey, cutoff).changes;
      return { examined: window.examined, deleted, lastKey: window.lastKey };
    },
  );

  // batches_status narrows to finished batches; the table holds one row per batch.
  const deleteBatchRows = sqlite.prepare(
    `DELETE FROM batches WHERE id IN (
       SELECT id FROM batches
       WHERE status IN ('completed', 'failed', 'expired', 'cancelled')
         AND COALESCE(completed_at, failed_at, cancelled_at, expired_at, created_at) <= ?
       LIMIT ?
     )
     RETURNING id, input_file_id AS inputFileId`,
  );
  const deleteMadeInputFiles = sqlite.prepare(
    `DELETE FROM files
     WHERE id IN (SELECT value FROM json_each(?))
       AND purpose = 'batch' AND expires_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM batches WHERE batches.input_file_id = files.id)
     RETURNING storage_path AS storagePath`,
  );
  const deleteBatchesTransaction = sqlite.transaction(
    (cutoff: number, limit: number): DeletedBatches => {
      const rows = deleteBatchRows.all(cutoff, limit) as { id: string; inputFileId: string }[];
      if (rows.length === 0) {
        return { batchIds: [], storagePaths: [] };
      }
      deleteCallbacks.run(JSON.stringify(rows.map((row) => row.id)));
      const inputFileIds = [...new Set(rows.map((row) => row.inputFileId))];
      const files = deleteMadeInputFiles.all(JSON.stringify(inputFileIds)) as {
        storagePath: string;
      }[];
      return { batchIds: rows.map((row) => row.id), storagePaths: files.map((f) => f.storagePath) };
    },
  );
  const deleteLinesOfBatch = sqlite.prepare(
    `DELETE FROM work_items WHERE id IN (
       SELECT id FROM work_items WHERE subject_id = ? AND kind = '${BATCH_LINE_WORK}' LIMIT ?
     )`,
  );

  const deleteFiles = sqlite.prepare(
    `DELETE FROM files WHERE id IN (
       SELECT id FROM files
       WHERE expires_at IS NOT NULL AND expires_at <= ?
         AND NOT EXISTS (
           SELECT 1 FROM batches
           WHERE batches.status = 'validating' AND batches.input_file_id = files.id
         )
       LIMIT ?
     )
     RETURNING storage_path AS storagePath`,
  );

  const workWindowEnd = sqlite.prepare(
    `SELECT COUNT(*) AS examined, MAX(id) AS lastKey
     FROM (SELECT id FROM work_items WHERE id > ? ORDER BY id LIMIT ?)`,
  );
  // A response's work item and row are inserted in one transaction, and a batch's row before
  // its lines, so a missing subject means it was deleted, not that it is about to appear.
  const deleteOrphanWindow = sqlite.prepare(
    `DELETE FROM work_items
     WHERE id > @after AND id <= @upto AND (
       (kind = '${RESPONSE_WORK}' AND status IN ('succeeded', 'failed', 'cancelled')
         AND NOT EXISTS (SELECT 1 FROM responses WHERE responses.id = work_items.subject_id))
       OR (kind = '${BATCH_LINE_WORK}'
         AND NOT EXISTS (SELECT 1 FROM batches WHERE batches.id = work_items.subject_id))
     )
     RETURNING kind, subject_id AS subjectId`,
  );
  const orphanWindowTransaction = sqlite.transaction(
    (afterId: number, limit: number): WindowResult => {
      const window = workWindowEnd.get(afterId, limit) as {
        examined: number;
        lastKey: number | null;
      };
      if (window.examined === 0 || window.lastKey === null) {
        return { examined: 0, deleted: 0, lastKey: afterId };
      }
      const orphans = deleteOrphanWindow.all({ after: afterId, upto: window.lastKey }) as {
        kind: string;
        subjectId: string;
      }[];
      // A response deleted through the API leaves its callback too: it goes with the work.
      const responseIds = orphans.filter((o) => o.kind === RESPONSE_WORK).map((o) => o.subjectId);
      if (responseIds.length > 0) {
        deleteCallbacks.run(JSON.stringify(responseIds));
      }
      return { examined: window.examined, deleted: orphans.length, lastKey: window.lastKey };
    },
  );

  // Through webhook_deliveries_due (status, next_attempt_at_ms): a finished delivery's
  // next_attempt_at_ms is when its last attempt was due, close to when it ended.
  const deleteDeliveryRows = sqlite.prepare(
    `DELETE FROM webhook_deliveries WHERE id IN (
       SELECT id FROM webhook_deliveries
       WHERE status IN ('delivered', 'failed', 'cancelled') AND next_attempt_at_ms <= ?
       LIMIT ?
     )
     RETURNING id, event_id AS eventId`,
  );
  const deleteAttemptsOf = sqlite.prepare(
    `DELETE FROM webhook_delivery_attempts WHERE delivery_id IN (SELECT value FROM json_each(?))`,
  );
  const deleteLeftoverEvents = sqlite.prepare(
    `DELETE FROM webhook_events
     WHERE id IN (SELECT value FROM json_each(?))
       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)`,
  );
  const deleteDeliveriesTransaction = sqlite.transaction((cutoffMs: number, limit: number) => {
    const rows = deleteDeliveryRows.all(cutoffMs, limit) as { id: string; eventId: string }[];
    if (rows.length > 0) {
      deleteAttemptsOf.run(JSON.stringify(rows.map((row) => row.id)));
      deleteLeftoverEvents.run(JSON.stringify([...new Set(rows.map((row) => row.eventId))]));
    }
    return rows.length;
  });

  // futures_expires_at narrows to the expired rows; pending and running ones are kept.
  const deleteFutureRows = sqlite.prepare(
    `DELETE FROM futures WHERE id IN (
       SELECT id FROM futures
       WHERE expires_at <= ? AND status IN ('completed', 'failed')
       LIMIT ?
     )
     RETURNING id`,
  );
  const deleteFutureWork = sqlite.prepare(
    `DELETE FROM work_items
     WHERE subject_id IN (SELECT value FROM json_each(?)) AND kind = '${FUTURE_WORK}'
       AND status IN ('succeeded', 'failed', 'cancelled')`,
  );
  const deleteFuturesTransaction = sqlite.transaction((nowSeconds: number, limit: number) => {
    const ids = (deleteFutureRows.all(nowSeconds, limit) as { id: string }[]).map((row) => row.id);
    if (ids.length > 0) {
      deleteFutureWork.run(JSON.stringify(ids));
    }
    return ids.length;
  });

  const existingFileIds = sqlite.prepare(
    `SELECT id FROM files WHERE id IN (SELECT value FROM json_each(?))`,
  );

  return {
    findExpiredResponses(cutoffSeconds, limit) {
      const rows = expiredResponses.all({ cutoff: cutoffSeconds, limit }) as {
        id: string;
        streamed: number;
      }[];
      return rows.map((row) => ({ id: row.id, isStreamed: row.streamed === 1 }));
    },
    deleteResponseEvents(responseId, limit) {
      return deleteEventsOfResponse.run(responseId, limit).changes;
    },
    deleteResponses(ids) {
      return ids.length === 0 ? 0 : deleteResponsesTransaction.immediate(ids);
    },
    deleteExpiredStreamEvents(afterSeq, cutoffSeconds, limit) {
      return streamWindowTransaction.immediate(afterSeq, cutoffSeconds, limit);
    },
    deleteExpiredBatches(cutoffSeconds, limit) {
      return deleteBatchesTransaction.immediate(cutoffSeconds, limit);
    },
    deleteBatchLines(batchId, limit) {
      return deleteLinesOfBatch.run(batchId, limit).changes;
    },
    deleteExpiredFiles(nowSeconds, limit) {
      return (deleteFiles.all(nowSeconds, limit) as { storagePath: string }[]).map(
        (row) => row.storagePath,
      );
    },
    deleteOrphanWork(afterId, limit) {
      return orphanWindowTransaction.immediate(afterId, limit);
    },
    deleteFinishedWebhookDeliveries(cutoffMs, limit) {
      return deleteDeliveriesTransaction.immediate(cutoffMs, limit);
    },
    deleteExpiredFutures(nowSeconds, limit) {
      return deleteFuturesTransaction.immediate(nowSeconds, limit);
    },
    findFileIds(ids) {
      if (ids.length === 0) {
        return new Set();
      }
      const rows = existingFileIds.all(JSON.stringify(ids)) as { id: string }[];
      return new Set(rows.map((row) => row.id));
    },
  };
}
