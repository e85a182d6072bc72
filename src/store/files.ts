import { and, asc, desc, eq, gt, isNotNull, lt, lte, or, type SQL } from "drizzle-orm";
import type { Db } from "./db.js";
import { type FileRow, files } from "./schema.js";

export type NewFileRow = typeof files.$inferInsert;

/** A position in the (created_at, id) order of a project's files. */
export interface FileCursor {
  readonly createdAt: number;
  readonly id: string;
}

export interface FileListOptions {
  readonly purpose?: string | undefined;
  /** Only files strictly after this position in `order`. */
  readonly after?: FileCursor | undefined;
  readonly limit: number;
  readonly order: "asc" | "desc";
}

/** Queries on the files table (metadata only; the bytes are in file-blobs.ts). */
export interface FileStore {
  insert(row: NewFileRow): void;
  find(projectId: string, id: string): FileRow | undefined;
  /**
   * One page of a project's files ordered by (created_at, id), the index's order, so a page is
   * one index range scan. Reads `limit + 1` rows to know whether there are more.
   */
  list(projectId: string, options: FileListOptions): { rows: FileRow[]; hasMore: boolean };
  /** Deletes the row and returns it (its storage path is needed to delete the bytes). */
  delete(projectId: string, id: string): FileRow | undefined;
  /** Files of any project whose expires_at is at or before `nowSeconds`, soonest first. */
  listExpired(nowSeconds: number, limit: number): FileRow[];
}

export function createFileStore(db: Db): FileStore {
  return {
    insert(row) {
      db.insert(files).values(row).run();
    },
    find(projectId, id) {
      return db
        .select()
        .from(files)
        .where(and(eq(files.id, id), eq(files.projectId, projectId)))
        .get();
    },
    list(projectId, options) {
      const conditions: (SQL | undefined)[] = [eq(files.projectId, projectId)];
      if (options.purpose !== undefined) {
        conditions.push(eq(files.purpose, options.purpose));
      }
      if (options.after !== undefined) {
        // Row-value comparison spelled out: (created_at, id) < or > the cursor.
        const { createdAt, id } = options.after;
        const beyond = options.order === "desc" ? lt : gt;
        conditions.push(
          or(
            beyond(files.createdAt, createdAt),
            and(eq(files.createdAt, createdAt), beyond(files.id, id)),
          ),
        );
      }
      const direction = options.order === "desc" ? desc : asc;
      const rows = db
        .select()
        .from(files)
        .where(and(...conditions))
        .orderBy(direction(files.createdAt), direction(files.id))
        .limit(options.limit + 1)
        .all();
      const hasMore = rows.length > options.limit;
      return { rows: hasMore ? rows.slice(0, options.limit) : rows, hasMore };
    },
    delete(projectId, id) {
      // all(), never get(): see "RETURNING" in db.ts. A failed commit must throw, or the caller
      // deletes the bytes of a row that is still there.
      return db
        .delete(files)
        .where(and(eq(files.id, id), eq(files.projectId, projectId)))
        .returning()
        .all()[0];
    },
    listExpired(nowSeconds, limit) {
      // No index on expires_at: the sweeper runs rarely and the table is small next to work_items.
      return db
        .select()
        .from(files)
        .where(and(isNotNull(files.expiresAt), lte(files.expiresAt, nowSeconds)))
        .orderBy(asc(files.expiresAt))
        .limit(limit)
        .all();
    },
  };
}
