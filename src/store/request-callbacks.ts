import type { Db } from "./db.js";
import type { RequestCallbackRow } from "./schema.js";

/**
 * The per-request callbacks of background responses and batches, keyed by their subject's id.
 * Credentials arrive here already sealed (webhooks/callbacks.ts): this store never sees them
 * in the clear.
 */
export interface RequestCallbackStore {
  /** Inside the transaction that writes the subject. */
  insert(row: RequestCallbackRow): void;
  /** Whether `subjectId` has a callback: one primary-key probe, asked for every event. */
  has(subjectId: string): boolean;
  find(subjectId: string): RequestCallbackRow | undefined;
}

export function createRequestCallbackStore(db: Db): RequestCallbackStore {
  const sqlite = db.$client;
  const insertStatement = sqlite.prepare(
    `INSERT INTO request_callbacks (subject_id, project_id, url, auth_kind, auth_sealed, secret_sealed, created_at)
     VALUES (@subjectId, @projectId, @url, @authKind, @authSealed, @secretSealed, @createdAt)`,
  );
  const hasStatement = sqlite
    .prepare("SELECT 1 FROM request_callbacks WHERE subject_id = ?")
    .pluck();
  const findStatement = sqlite.prepare(
    `SELECT subject_id AS subjectId, project_id AS projectId, url, auth_kind AS authKind,
            auth_sealed AS authSealed, secret_sealed AS secretSealed, created_at AS createdAt
     FROM request_callbacks WHERE subject_id = ?`,
  );
  return {
    insert(row) {
      insertStatement.run(row);
    },
    has(subjectId) {
      return hasStatement.get(subjectId) !== undefined;
    },
    find(subjectId) {
      return findStatement.get(subjectId) as RequestCallbackRow | undefined;
    },
  };
}
