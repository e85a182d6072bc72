import type { Db } from "./db.js";

/**
 * Batch lines are rows of the work queue (kind "batch_line", subject_id = the batch id,
 * item_key = the custom_id). These are the operations only batches need: lines are inserted
 * `held` while the file is validated (the executor claims only `queued`), then released at once.
 */

const PAGE_SIZE = 1000;

export interface NewBatchLine {
  readonly line: number;
  readonly customId: string;
  readonly payload: Record<string, unknown>;
  /**
   * The line's place in its batch's dispatch order (the claim runs a batch's lines by rank, then
   * input order); 0 or left out: input order. Results are always read in input (id) order.
   */
  readonly dispatchRank?: number;
}

export interface FinishedLine {
  readonly id: number;
  readonly customId: string;
  readonly status: "succeeded" | "failed" | "cancelled";
  /** The output line for succeeded and failed lines; null for lines that never ran. */
  readonly result: Record<string, unknown> | null;
}

export interface BatchLineStore {
  /**
   * Inserts held lines in one transaction. Returns the lines whose custom_id was already taken in
   * this batch (the unique index on (subject_id, item_key) decides, however far apart they are).
   */
  insertHeld(
    batch: { id: string; projectId: string; backend: string; lane: number; nowMs: number },
    lines: readonly NewBatchLine[],
  ): { duplicates: NewBatchLine[] };
  /** held -> queued for every line of the batch. */
  releaseHeld(batchId: string): number;
  deleteAll(batchId: string): void;
  /** Lines not yet finished: held, queued or running. */
  countActive(batchId: string): number;
  /** Cancels every queued and running line; returns the ids that were running (to abort them). */
  cancelActive(batchId: string, nowMs: number): { runningIds: number[]; cancelled: number };
  /** Every line in input order, streamed from the database (never all in memory). */
  iterate(batchId: string): IterableIterator<FinishedLine>;
  /**
   * The results of one file's lines, as stored (JSON text, never parsed), in input order, a page
   * at a time: "output" = succeeded lines, "error" = failed lines and lines that never ran.
   */
  resultPages(batchId: string, file: "output" | "error"): IterableIterator<string[]>;
  /**
   * Every answered line's result as stored (JSON text, never parsed), in input order, a page at
   * a time. A page ends after PAGE_SIZE rows or once it holds `maxChars` characters, so pages of
   * large results stay near that bound (one result past it at most) however large they are.
   */
  resultTextPages(batchId: string, maxChars: number): IterableIterator<string[]>;
  countUnrun(batchId: string): number;
  /**
   * Gives every line that never ran its error-file line (`response: null`, `error: {code,
   * message}`), in one statement, so the error file and the results view read the same line.
   */
  fillUnrun(batchId: string, code: string, message: string): void;
}

export function createBatchLineStore(db: Db): BatchLineStore {
  const sqlite = db.$client;
  const insert = sqlite.prepare(
    `INSERT INTO work_items (kind, subject_id, project_id, lane, owner_key, backend, status, item_key, payload, dispatch_rank, created_at_ms)
     VALUES ('batch_line', @batchId, @projectId, @lane, @batchId, @backend, 'held', @customId, @payload, @dispatchRank, @nowMs)`,
  );
  const release = sqlite.prepare(
    `UPDATE work_items SET status = 'queued' WHERE subject_id = ? AND status = 'held'`,
  );
  const deleteLines = sqlite.prepare(
    `DELETE FROM work_items WHERE subject_id = ? AND kind = 'batch_line'`,
  );
  const countActiveStatement = sqlite.prepare(
    `SELECT COUNT(*) AS n FROM work_items WHERE subject_id = ? AND status IN ('held', 'queued', 'running')`,
  );
  const runningIds = sqlite.prepare(
    `SELECT id FROM work_items WHERE subject_id = ? AND status = 'running'`,
  );
  const cancel = sqlite.prepare(
    `UPDATE work_items
     SET status = 'cancelled', finished_at_ms = ?, lease_owner = NULL, lease_expires_at_ms = NULL
     WHERE subject_id = ? AND status IN ('held', 'queued', 'running')`,
  );
  const iterateStatement = sqlite.prepare(
    `SELECT id, item_key, status, result FROM work_items
     WHERE subject_id = ? AND kind = 'batch_line' AND status IN ('succeeded', 'failed', 'cancelled') AND id > ?
     ORDER BY id LIMIT ${PAGE_SIZE}`,
  );
  // In id order with no sort, however many lines the batch has: the output file through
  // work_items_subject (subject_id, status, and the rowid that every index ends with), the error
  // file (two statuses) through work_items_subject_order (subject_id, id).
  const resultPageStatements = {
    output: sqlite.prepare(
      `SELECT id, result FROM work_items
       WHERE subject_id = ? AND kind = 'batch_line' AND status = 'succeeded' AND id > ?
         AND result IS NOT NULL
       ORDER BY id LIMIT ${PAGE_SIZE}`,
    ),
    error: sqlite.prepare(
      `SELECT id, result FROM work_items
       WHERE subject_id = ? AND kind = 'batch_line' AND status IN ('failed', 'cancelled') AND id > ?
         AND result IS NOT NULL
       ORDER BY id LIMIT ${PAGE_SIZE}`,
    ),
  };
  // No LIMIT: read with a cursor that is closed as soon as the page is full (see resultTextPages).
  const resultTextStatement = sqlite.prepare(
    `SELECT id, result FROM work_items
     WHERE subject_id = ? AND kind = 'batch_line' AND status IN ('succeeded', 'failed', 'cancelled')
       AND id > ? AND result IS NOT NULL
     ORDER BY id`,
  );
  const countUnrunStatement = sqlite.prepare(
    `SELECT COUNT(*) AS n FROM work_items WHERE subject_id = ? AND kind = 'batch_line' AND status = 'cancelled'`,
  );

  const fillUnrunStatement = sqlite.prepare(
    `UPDATE work_items
     SET result = json_object(
       'id', 'batch_req_' || lower(hex(randomblob(24))),
       'custom_id', item_key,
       'response', NULL,
       'error', json_object('code', @code, 'message', @message))
     WHERE subject_id = @batchId AND kind = 'batch_line' AND status = 'cancelled' AND result IS NULL`,
  );

  const insertMany = sqlite.transaction(
    (
      batch: { id: string; projectId: string; backend: string; lane: number; nowMs: number },
      lines: readonly NewBatchLine[],
    ) => {
      const duplicates: NewBatchLine[] = [];
      for (const line of lines) {
        try {
          insert.run({
            batchId: batch.id,
            projectId: batch.projectId,
            lane: batch.lane,
            backend: batch.backend,
            customId: line.customId,
            payload: JSON.stringify(line.payload),
            dispatchRank: line.dispatchRank ?? 0,
            nowMs: batch.nowMs,
          });
        } catch (thrown) {
          // A failed statement rolls back only itself; the transaction goes on.
          if (
            thrown instanceof Error &&
            "code" in thrown &&
            thrown.code === "SQLITE_CONSTRAINT_UNIQUE"
          ) {
            duplicates.push(line);
          } else {
            throw thrown;
          }
        }
      }
      return { duplicates };
    },
  );
  const cancelTransaction = sqlite.transaction((batchId: string, nowMs: number) => {
    const running = (runningIds.all(batchId) as { id: number }[]).map((row) => row.id);
    const cancelled = cancel.run(nowMs, batchId).changes;
    return { runningIds: running, cancelled };
  });

  return {
    insertHeld: (batch, lines) => insertMany.immediate(batch, lines),
    releaseHeld: (batchId) => release.run(batchId).changes,
    deleteAll(batchId) {
      deleteLines.run(batchId);
    },
    countActive: (batchId) => (countActiveStatement.get(batchId) as { n: number }).n,
    cancelActive: (batchId, nowMs) => cancelTransaction.immediate(batchId, nowMs),
    *iterate(batchId) {
      // Page by id rather than hold one cursor open: better-sqlite3 refuses other statements on
      // the connection while a cursor is open, and the executor keeps committing meanwhile.
      let afterId = 0;
      for (;;) {
        const page = iterateStatement.all(batchId, afterId) as {
          id: number;
          item_key: string;
          status: FinishedLine["status"];
          result: string | null;
        }[];
        for (const row of page) {
          yield {
            id: row.id,
            customId: row.item_key,
            status: row.status,
            result:
              row.result === null ? null : (JSON.parse(row.result) as Record<string, unknown>),
          };
        }
        const last = page.at(-1);
        if (last === undefined || page.length < PAGE_SIZE) {
          return;
        }
        afterId = last.id;
      }
    },
    *resultPages(batchId, file) {
      const statement = resultPageStatements[file];
      let afterId = 0;
      for (;;) {
        const page = statement.all(batchId, afterId) as { id: number; result: string }[];
        const last = page.at(-1);
        if (last === undefined) {
          return;
        }
        yield page.map((row) => row.result);
        if (page.length < PAGE_SIZE) {
          return;
        }
        afterId = last.id;
      }
    },
    *resultTextPages(batchId, maxChars) {
      let afterId = 0;
      for (;;) {
        // The cursor lives only within this synchronous loop: it is closed (by the break, or at
        // its end) before the page is yielded, so other statements run freely in between.
        const page: string[] = [];
        let chars = 0;
        let isFull = false;
        for (const row of resultTextStatement.iterate(batchId, afterId) as IterableIterator<{
          id: number;
          result: string;
        }>) {
          page.push(row.result);
          chars += row.result.length;
          afterId = row.id;
          if (page.length >= PAGE_SIZE || chars >= maxChars) {
            isFull = true;
            break;
          }
        }
        if (page.length > 0) {
          yield page;
        }
        if (!isFull) {
          return;
        }
      }
    },
    countUnrun: (batchId) => (countUnrunStatement.get(batchId) as { n: number }).n,
    fillUnrun(batchId, code, message) {
      fillUnrunStatement.run({ batchId, code, message });
    },
  };
}
