import { and, asc, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "./db.js";
import { type ApiKeyRow, apiKeys } from "./schema.js";

export type NewApiKeyRow = typeof apiKeys.$inferInsert;

/**
 * Queries on api_keys. Only hashes are stored; a key is found by the hash of what the client
 * sent. The two lookups that run per request are prepared once.
 */
export interface ApiKeyStore {
  insert(row: NewApiKeyRow): void;
  /** The non-revoked key with this hash, if any. */
  findActiveByHash(keyHash: string): ApiKeyRow | undefined;
  findById(id: string): ApiKeyRow | undefined;
  /** Every key, revoked ones included, oldest first. */
  list(): ApiKeyRow[];
  /** Whether any non-revoked key exists: what ends open mode. */
  hasActive(): boolean;
  countActive(): number;
  /** Sets revoked_at once; returns the row as it is afterwards, or undefined for an unknown id. */
  revoke(id: string, nowSeconds: number): ApiKeyRow | undefined;
  touch(id: string, nowSeconds: number): void;
}

export function createApiKeyStore(db: Db): ApiKeyStore {
  const byHash = db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, sql.placeholder("keyHash")), isNull(apiKeys.revokedAt)))
    .prepare();
  const anyActive = db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(isNull(apiKeys.revokedAt))
    .limit(1)
    .prepare();
  return {
    insert(row) {
      db.insert(apiKeys).values(row).run();
    },
    findActiveByHash(keyHash) {
      return byHash.get({ keyHash });
    },
    findById(id) {
      return db.select().from(apiKeys).where(eq(apiKeys.id, id)).get();
    },
    list() {
      return db.select().from(apiKeys).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id)).all();
    },
    hasActive() {
      return anyActive.get() !== undefined;
    },
    countActive() {
      const row = db
        .select({ count: sql<number>`count(*)` })
        .from(apiKeys)
        .where(isNull(apiKeys.revokedAt))
        .get();
      return row?.count ?? 0;
    },
    revoke(id, nowSeconds) {
      db.update(apiKeys)
        .set({ revokedAt: nowSeconds })
        .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
        .run();
      return db.select().from(apiKeys).where(eq(apiKeys.id, id)).get();
    },
    touch(id, nowSeconds) {
      db.update(apiKeys).set({ lastUsedAt: nowSeconds }).where(eq(apiKeys.id, id)).run();
    },
  };
}
