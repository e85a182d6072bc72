import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { afterEach, describe, expect, it } from "vitest";
import {
  displayPrefix,
  generateApiKey,
  grantsScope,
  hashApiKey,
} from "../../src/contract/api-keys.js";
import { systemClock } from "../../src/lib/clock.js";
import { createApiKeysService } from "../../src/services/api-keys.js";
import { createApiKeyStore } from "../../src/store/api-keys.js";
import { type Db, openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";

/** Migration 0012 on a database made before it: keys made with the old default gain webhooks. */

const MIGRATIONS = fileURLToPath(new URL("../../migrations", import.meta.url));
const BEFORE_WEBHOOK_SCOPES = 12; // journal entries 0000..0011

/** What `ferry keys create` gave a key without --scopes before the webhook scopes existed. */
const OLD_DEFAULT_SCOPES = [
  "responses:read",
  "responses:write",
  "batches:read",
  "batches:write",
  "files:read",
  "files:write",
  "streams:read",
  "streams:write",
];

let db: Db | undefined;
let folder: string | undefined;
afterEach(() => {
  db?.$client.close();
  if (folder !== undefined) {
    rmSync(folder, { recursive: true, force: true });
  }
});

/** The migrations folder as it was before 0012. */
function migrationsBeforeWebhookScopes(): string {
  folder = mkdtempSync(path.join(tmpdir(), "ferry-migrations-"));
  cpSync(MIGRATIONS, folder, { recursive: true });
  const journalPath = path.join(folder, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
  journal.entries = journal.entries.slice(0, BEFORE_WEBHOOK_SCOPES);
  expect(journal.entries.at(-1)?.tag).toBe("0011_futures");
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

describe("migration 0012 (webhook scopes for old keys)", () => {
  it("gives keys with exactly the old default scopes webhooks:read and webhooks:write, and leaves other lists alone", () => {
    db = openDatabase(":memory:");
    migrate(db, { migrationsFolder: migrationsBeforeWebhookScopes() });
    // Written by the store, as the key service wrote them then (its JSON is what 0012 matches).
    const store = createApiKeyStore(db);
    const keys = {
      oldDefault: OLD_DEFAULT_SCOPES,
      narrower: ["responses:read", "batches:read"],
      // Only the old default's exact stored text matches: the same scopes in another order were
      // listed by hand.
      reordered: [...OLD_DEFAULT_SCOPES].reverse(),
      withAdmin: [...OLD_DEFAULT_SCOPES, "admin"],
    };
    const secrets = new Map<string, string>();
    for (const [id, scopes] of Object.entries(keys)) {
      const key = generateApiKey();
      secrets.set(id, key);
      store.insert({
        id,
        projectId: "proj_a",
        name: null,
        scopes,
        keyHash: hashApiKey(key),
        keyPrefix: displayPrefix(key),
        createdAt: 1,
      });
    }

    migrateDatabase(db);
    const scopesOf = (id: string) => store.findById(id)?.scopes;
    expect(scopesOf("oldDefault")).toEqual([
      ...OLD_DEFAULT_SCOPES,
      "webhooks:read",
      "webhooks:write",
    ]);
    expect(scopesOf("narrower")).toEqual(keys.narrower);
    expect(scopesOf("reordered")).toEqual(keys.reordered);
    expect(scopesOf("withAdmin")).toEqual(keys.withAdmin);

    // And a request with the old default key is now let into the webhook routes.
    const service = createApiKeysService({ store, clock: systemClock });
    const identity = (id: string) => service.resolve(secrets.get(id) ?? "");
    const oldDefault = identity("oldDefault");
    expect(oldDefault?.projectId).toBe("proj_a");
    expect(grantsScope(oldDefault?.scopes ?? [], "webhooks:write")).toBe(true);
    expect(grantsScope(identity("narrower")?.scopes ?? [], "webhooks:read")).toBe(false);
  });
});
