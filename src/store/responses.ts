import { and, eq } from "drizzle-orm";
import type { Db } from "./db.js";
import { type NewResponseRow, type ResponseRow, responses } from "./schema.js";

/** Queries on the responses table. The only place that knows how responses are stored. */
export interface ResponseStore {
  insert(row: NewResponseRow): void;
  find(projectId: string, id: string): ResponseRow | undefined;
  /** Returns whether a row was deleted. */
  delete(projectId: string, id: string): boolean;
}

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
    delete(projectId, id) {
      const result = db
        .delete(responses)
        .where(and(eq(responses.id, id), eq(responses.projectId, projectId)))
        .run();
      return result.changes > 0;
    },
  };
}
