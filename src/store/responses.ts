import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "./db.js";
import { type NewResponseRow, type ResponseRow, responses } from "./schema.js";

/** Queries on the responses table. The only place that knows how responses are stored. */
export interface ResponseStore {
  insert(row: NewResponseRow): void;
  find(projectId: string, id: string): ResponseRow | undefined;
  /** Any project's row: for internal callers that already hold an authorised id. */
  findById(id: string): ResponseRow | undefined;
  /** Returns whether a row was deleted. */
  delete(projectId: string, id: string): boolean;
  /** queued -> in_progress, for responses the executor just claimed. */
  markInProgress(ids: readonly string[]): void;
  /**
   * Writes the outcome of a running response. Guarded by status, so a response that was
   * cancelled meanwhile stays cancelled. Returns whether it was written.
   */
  finish(id: string, outcome: ResponseOutcome): boolean;
  /** queued | in_progress -> cancelled; returns whether it changed. */
  cancel(id: string): boolean;
}

export type ResponseOutcome = Pick<
  NewResponseRow,
  "status" | "completedAt" | "output" | "usage" | "error" | "incompleteDetails"
>;

const ACTIVE = ["queued", "in_progress"];

export function createResponseStore(db: Db): ResponseStore {
  return {
    insert(row) {
      db.insert(responses).values(row).run();
    },
    find(projectId, id) {
      return db
        .select()
        .from(responses)
        .where(and(eq(responses.id, id), eq(responses.projectId, projectId)))
        .get();
    },
    findById(id) {
      return db.select().from(responses).where(eq(responses.id, id)).get();
    },
    delete(projectId, id) {
      const result = db
        .delete(responses)
        .where(and(eq(responses.id, id), eq(responses.projectId, projectId)))
        .run();
      return result.changes > 0;
    },
    markInProgress(ids) {
      db.update(responses)
        .set({ status: "in_progress" })
        .where(and(inArray(responses.id, [...ids]), eq(responses.status, "queued")))
        .run();
    },
    finish(id, outcome) {
      const result = db
        .update(responses)
        .set(outcome)
        .where(and(eq(responses.id, id), inArray(responses.status, ACTIVE)))
        .run();
      return result.changes > 0;
    },
    cancel(id) {
      const result = db
        .update(responses)
        .set({ status: "cancelled" })
        .where(and(eq(responses.id, id), inArray(responses.status, ACTIVE)))
        .run();
      return result.changes > 0;
    },
  };
}
