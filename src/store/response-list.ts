import { and, desc, eq, inArray, lt, lte, or, sql } from "drizzle-orm";
import type { Db } from "./db.js";
import { type ResponseRow, responses } from "./schema.js";

/** Listing and sweeping queries over the responses table. */
export interface ResponseListStore {
  /** Newest first; `after` is the last row of the previous page; optionally one stream's only. */
  list(
    projectId: string,
    options: { after: ResponseRow | null; limit: number; streamId?: string | undefined },
  ): ResponseRow[];
  /** Queued or running responses of a stream (to cancel them with it). */
  activeIdsOfStream(streamId: string): string[];
  /** Queued or running deferred responses whose window has passed. */
  overdue(nowSeconds: number, limit: number): ResponseRow[];
}

const ACTIVE = ["queued", "in_progress"];

export function createResponseListStore(db: Db): ResponseListStore {
  return {
    list(projectId, options) {
      const { after } = options;
      // Newest first: by created_at, then by rowid (insertion order) within a second, the order
      // responses_project_time keeps its entries in, so a page is one walk down that index.
      const cursor =
        after === null
          ? undefined
          : or(
              lt(responses.createdAt, after.createdAt),
              and(
                eq(responses.createdAt, after.createdAt),
                sql`${responses}.rowid < (SELECT rowid FROM ${responses} WHERE ${responses.id} = ${after.id})`,
              ),
            );
      return db
        .select()
        .from(responses)
        .where(
          and(
            eq(responses.projectId, projectId),
            options.streamId === undefined ? undefined : eq(responses.streamId, options.streamId),
            cursor,
          ),
        )
        .orderBy(desc(responses.createdAt), desc(sql`${responses}.rowid`))
        .limit(options.limit)
        .all();
    },
    activeIdsOfStream(streamId) {
      return db
        .select({ id: responses.id })
        .from(responses)
        .where(and(eq(responses.streamId, streamId), inArray(responses.status, ACTIVE)))
        .all()
        .map((row) => row.id);
    },
    overdue(nowSeconds, limit) {
      return db
        .select()
        .from(responses)
        .where(and(inArray(responses.status, ACTIVE), lte(responses.expiresAt, nowSeconds)))
        .limit(limit)
        .all();
    },
  };
}
