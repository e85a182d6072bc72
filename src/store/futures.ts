import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "./db.js";
import { type FutureRow, futures } from "./schema.js";

export type NewFutureRow = typeof futures.$inferInsert;

/** How a future ended: the HTTP answer its request got. */
export interface FutureOutcome {
  readonly status: "completed" | "failed";
  readonly resultStatusCode: number;
  readonly resultBody: string;
  readonly error: Record<string, unknown> | null;
  readonly completedAt: number;
}

/** Queries on the futures table. The only place that knows how futures are stored. */
export interface FutureStore {
  /** Inserts at once: the caller writes the row and its work item in one transaction. */
  insert(row: NewFutureRow): void;
  find(projectId: string, id: string): FutureRow | undefined;
  /** pending -> running, for futures the executor just claimed. */
  markRunning(ids: readonly string[]): void;
  /** Writes the outcome once: a future that already ended keeps its first outcome. */
  finish(id: string, outcome: FutureOutcome): boolean;
}

const UNFINISHED = ["pending", "running"];

export function createFutureStore(db: Db): FutureStore {
  return {
    insert(row) {
      db.insert(futures).values(row).run();
    },
    find(projectId, id) {
      return db
        .select()
        .from(futures)
        .where(and(eq(futures.id, id), eq(futures.projectId, projectId)))
        .get();
    },
    markRunning(ids) {
      if (ids.length === 0) {
        return;
      }
      db.update(futures)
        .set({ status: "running" })
        .where(and(inArray(futures.id, [...ids]), eq(futures.status, "pending")))
        .run();
    },
    finish(id, outcome) {
      const result = db
        .update(futures)
        .set(outcome)
        .where(and(eq(futures.id, id), inArray(futures.status, UNFINISHED)))
        .run();
      return result.changes > 0;
    },
  };
}
