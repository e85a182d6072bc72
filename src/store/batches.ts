import { and, desc, eq, inArray, lt, or, sql } from "drizzle-orm";
import type { Db } from "./db.js";
import { type BatchRow, batches } from "./schema.js";

export type NewBatchRow = typeof batches.$inferInsert;

export interface BatchErrorEntry {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

export interface LineUsage {
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  reasoningTokens: number;
}

/** Finished lines and their usage, summed: what some lines add to their batch's counters. */
export interface LineCounts extends LineUsage {
  completed: number;
  failed: number;
}

/**
 * Batch rows and their state changes. Every change is guarded by the state it leaves, so two
 * paths racing to move a batch (a cancel and a finalize, say) cannot both win.
 */
export interface BatchStore {
  insert(row: NewBatchRow): void;
  find(projectId: string, id: string): BatchRow | undefined;
  findById(id: string): BatchRow | undefined;
  /** Newest first; `after` is the id of the last batch of the previous page. */
  list(projectId: string, after: BatchRow | null, limit: number): BatchRow[];
  /** validating -> failed, with the validation errors. */
  failValidation(id: string, errors: BatchErrorEntry[], nowSeconds: number): boolean;
  /** validating -> in_progress once every line is queued. */
  startRunning(id: string, total: number, model: string | null, nowSeconds: number): boolean;
  /** Counts finished lines; runs in the same transaction as those lines' results. */
  countLines(id: string, counts: LineCounts): void;
  /** Counts lines that never ran (cancelled or expired) as failed, at finalization. */
  countUnrun(id: string, count: number): void;
  /** validating | in_progress -> cancelling. */
  requestCancel(id: string, nowSeconds: number): boolean;
  /** Marks a running batch past its window; finalization then ends it `expired`. */
  markExpired(id: string, nowSeconds: number): boolean;
  /** in_progress -> finalizing. */
  beginFinalizing(id: string, nowSeconds: number): boolean;
  /** finalizing | cancelling | in_progress (expired) -> the terminal status, with the files. */
  finish(
    id: string,
    outcome: {
      status: "completed" | "cancelled" | "expired";
      outputFileId: string | null;
      errorFileId: string | null;
    },
    nowSeconds: number,
  ): boolean;
  /** Batches some step must move on: validating, running past their window, or finishing. */
  listUnsettled(nowSeconds: number): BatchRow[];
}

export function createBatchStore(db: Db): BatchStore {
  const changed = (result: { changes: number }) => result.changes > 0;
  // Prepared once: it runs for every results transaction of a running batch.
  const countLinesStatement = db.$client.prepare(
    `UPDATE batches
     SET completed_count = completed_count + @completed, failed_count = failed_count + @failed,
         input_tokens = input_tokens + @inputTokens, cached_tokens = cached_tokens + @cachedTokens,
         output_tokens = output_tokens + @outputTokens,
         reasoning_tokens = reasoning_tokens + @reasoningTokens
     WHERE id = @id`,
  );
  // Prepared once: the supervisor reads a batch after every results transaction of its lines,
  // and building the drizzle query each time cost more than running it.
  const findByIdStatement = db
    .select()
    .from(batches)
    .where(eq(batches.id, sql.placeholder("id")))
    .prepare();
  return {
    insert(row) {
      db.insert(batches).values(row).run();
    },
    find(projectId, id) {
      return db
        .select()
        .from(batches)
        .where(and(eq(batches.id, id), eq(batches.projectId, projectId)))
        .get();
    },
    findById(id) {
      return findByIdStatement.get({ id });
    },
    list(projectId, after, limit) {
      const cursor =
        after === null
          ? undefined
          : or(
              lt(batches.createdAt, after.createdAt),
              and(eq(batches.createdAt, after.createdAt), lt(batches.id, after.id)),
            );
      return db
        .select()
        .from(batches)
        .where(and(eq(batches.projectId, projectId), cursor))
        .orderBy(desc(batches.createdAt), desc(batches.id))
        .limit(limit)
        .all();
    },
    failValidation(id, errors, nowSeconds) {
      return changed(
        db
          .update(batches)
          .set({ status: "failed", errors, failedAt: nowSeconds })
          .where(and(eq(batches.id, id), eq(batches.status, "validating")))
          .run(),
      );
    },
    startRunning(id, total, model, nowSeconds) {
      return changed(
        db
          .update(batches)
          .set({ status: "in_progress", totalCount: total, model, inProgressAt: nowSeconds })
          .where(and(eq(batches.id, id), eq(batches.status, "validating")))
          .run(),
      );
    },
    countLines(id, counts) {
      countLinesStatement.run({ ...counts, id });
    },
    countUnrun(id, count) {
      db.update(batches)
        .set({ failedCount: sql`${batches.failedCount} + ${count}` })
        .where(eq(batches.id, id))
        .run();
    },
    requestCancel(id, nowSeconds) {
      return changed(
        db
          .update(batches)
          .set({ status: "cancelling", cancellingAt: nowSeconds })
          .where(and(eq(batches.id, id), inArray(batches.status, ["validating", "in_progress"])))
          .run(),
      );
    },
    markExpired(id, nowSeconds) {
      return changed(
        db
          .update(batches)
          .set({ expiredAt: nowSeconds })
          .where(
            and(
              eq(batches.id, id),
              inArray(batches.status, ["validating", "in_progress"]),
              sql`${batches.expiredAt} IS NULL`,
            ),
          )
          .run(),
      );
    },
    beginFinalizing(id, nowSeconds) {
      return changed(
        db
          .update(batches)
          .set({ status: "finalizing", finalizingAt: nowSeconds })
          .where(
            and(
              eq(batches.id, id),
              eq(batches.status, "in_progress"),
              sql`${batches.expiredAt} IS NULL`,
            ),
          )
          .run(),
      );
    },
    finish(id, outcome, nowSeconds) {
      const from = {
        completed: ["finalizing"],
        cancelled: ["cancelling"],
        expired: ["validating", "in_progress"],
      }[outcome.status];
      const at =
        outcome.status === "completed"
          ? { completedAt: nowSeconds }
          : outcome.status === "cancelled"
            ? { cancelledAt: nowSeconds }
            : {};
      return changed(
        db
          .update(batches)
          .set({
            status: outcome.status,
            outputFileId: outcome.outputFileId,
            errorFileId: outcome.errorFileId,
            ...at,
          })
          .where(and(eq(batches.id, id), inArray(batches.status, from)))
          .run(),
      );
    },
    listUnsettled(nowSeconds) {
      return db
        .select()
        .from(batches)
        .where(
          or(
            inArray(batches.status, ["validating", "finalizing", "cancelling"]),
            and(eq(batches.status, "in_progress"), lt(batches.expiresAt, nowSeconds + 1)),
            and(
              eq(batches.status, "in_progress"),
              sql`${batches.completedCount} + ${batches.failedCount} >= ${batches.totalCount}`,
            ),
          ),
        )
        .all();
    },
  };
}
