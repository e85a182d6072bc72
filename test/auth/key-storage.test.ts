import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashApiKey } from "../../src/contract/api-keys.js";
import type { Clock } from "../../src/lib/clock.js";
import { createApiKeysService } from "../../src/services/api-keys.js";
import { createApiKeyStore } from "../../src/store/api-keys.js";
import { type Db, openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { apiKeys } from "../../src/store/schema.js";

const START_MS = 1_750_000_000_000;
let nowMs = START_MS;
const clock: Clock = { nowMs: () => nowMs };

let dir = "";
let db: Db;
beforeEach(() => {
  nowMs = START_MS;
  dir = mkdtempSync(path.join(tmpdir(), "ferry-keys-"));
  db = openDatabase(path.join(dir, "ferry.db"));
  migrateDatabase(db);
});
afterEach(() => {
  if (db.$client.open) {
    db.$client.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Every byte SQLite wrote for the database: the main file, and the WAL and shm if still there. */
function databaseBytes(): string {
  return readdirSync(dir)
    .map((name) => readFileSync(path.join(dir, name)).toString("latin1"))
    .join("\n");
}

describe("stored keys", () => {
  it("are not recoverable from the database file: only hashes and display prefixes are kept", () => {
    const service = createApiKeysService({ store: createApiKeyStore(db), clock });
    const created = [
      service.create({ projectId: "alpha", name: "one" }),
      service.create({ projectId: "alpha", name: "two", scopes: ["responses:read"] }),
      service.create({ projectId: "beta", name: "three", scopes: ["admin"] }),
    ];
    for (const { key } of created) {
      expect(service.resolve(key)).not.toBeNull();
    }
    service.revoke(created[1]?.info.id ?? "");

    // While open (WAL and all), then after a checkpoint and close.
    for (const phase of ["open", "closed"]) {
      if (phase === "closed") {
        db.$client.pragma("wal_checkpoint(TRUNCATE)");
        db.$client.close();
      }
      const bytes = databaseBytes();
      for (const { key, info } of created) {
        expect(bytes.includes(key), `${phase}: the key itself`).toBe(false);
        // The random part, in case it were stored apart from the prefix.
        expect(bytes.includes(key.slice(13)), `${phase}: the key's secret part`).toBe(false);
        expect(bytes.includes(info.keyPrefix), `${phase}: the prefix may be`).toBe(true);
        expect(bytes.includes(hashApiKey(key)), `${phase}: the hash`).toBe(true);
      }
    }
  });

  it("stores a row per key with the hash, prefix, scopes and times", () => {
    const service = createApiKeysService({ store: createApiKeyStore(db), clock });
    const { key, info } = service.create({
      projectId: "alpha",
      name: "ci",
      scopes: ["batches:read", "batches:write"],
    });
    expect(info).toEqual({
      id: expect.stringMatching(/^key_[0-9a-f]{24}$/),
      projectId: "alpha",
      name: "ci",
      keyPrefix: key.slice(0, 13),
      scopes: ["batches:read", "batches:write"],
      createdAt: START_MS / 1000,
      lastUsedAt: null,
      revokedAt: null,
    });
    const row = db.select().from(apiKeys).get();
    expect(row).toMatchObject({ keyHash: hashApiKey(key), keyPrefix: key.slice(0, 13) });
    expect(JSON.stringify(row)).not.toContain(key);
  });

  it("rejects a bad project and an empty scope list", () => {
    const service = createApiKeysService({ store: createApiKeyStore(db), clock });
    expect(() => service.create({ projectId: "al pha" })).toThrow(/not a valid project/);
    expect(() => service.create({ projectId: "alpha", scopes: [] })).toThrow(/at least one scope/);
  });
});

describe("looking keys up", () => {
  it("sees a revocation from another process within the cache time, and one of its own at once", () => {
    const server = createApiKeysService({ store: createApiKeyStore(db), clock, cacheTtlMs: 1000 });
    const cli = createApiKeysService({ store: createApiKeyStore(db), clock });
    const first = cli.create({ projectId: "alpha" });
    const second = cli.create({ projectId: "alpha" });
    // Created elsewhere while the server runs: found on first use, no restart.
    expect(server.resolve(first.key)?.keyId).toBe(first.info.id);
    expect(server.resolve(second.key)?.keyId).toBe(second.info.id);

    cli.revoke(first.info.id);
    nowMs += 999;
    expect(server.resolve(first.key)).not.toBeNull();
    nowMs += 1;
    expect(server.resolve(first.key)).toBeNull();

    server.revoke(second.info.id);
    expect(server.resolve(second.key)).toBeNull();
  });

  it("records last use at most once a minute per key", () => {
    const service = createApiKeysService({ store: createApiKeyStore(db), clock, cacheTtlMs: 0 });
    const { key, info } = service.create({ projectId: "alpha" });
    const lastUsed = () => service.list().find((item) => item.id === info.id)?.lastUsedAt;
    expect(lastUsed()).toBeNull();
    service.resolve(key);
    expect(lastUsed()).toBe(START_MS / 1000);
    nowMs += 59_000;
    service.resolve(key);
    expect(lastUsed()).toBe(START_MS / 1000);
    nowMs += 1_000;
    service.resolve(key);
    expect(lastUsed()).toBe(START_MS / 1000 + 60);
  });

  it("keeps a server keyed for its whole life once a key was seen", () => {
    const store = createApiKeyStore(db);
    const server = createApiKeysService({ store, clock, openModeAllowed: true });
    expect(server.isOpen()).toBe(true);
    const created = server.create({ projectId: "alpha" });
    expect(server.isOpen()).toBe(false);
    server.revoke(created.info.id);
    expect(store.hasActive()).toBe(false);
    expect(server.isOpen()).toBe(false);
    // A new process over the same database (every key revoked) may start open again.
    expect(createApiKeysService({ store, clock, openModeAllowed: true }).isOpen()).toBe(true);
    // Never where open mode is not allowed.
    expect(createApiKeysService({ store, clock, openModeAllowed: false }).isOpen()).toBe(false);
  });
});
