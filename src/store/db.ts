import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { type BetterSQLite3Database, drizzle } from "drizzle-orm/better-sqlite3";
import * as schema from "./schema.js";

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/**
 * Opens (creating if needed) the SQLite database. `:memory:` gives a private database, which is
 * what every fast test uses.
 *
 * - WAL lets readers run while the executor writes, and survives kill -9 (the WAL is replayed).
 * - synchronous=NORMAL in WAL mode never corrupts the database; a power loss (not a process
 *   crash) can drop the last few commits, which is the usual trade for a local server.
 * - busy_timeout covers the short window where a CLI command (keys, migrate) holds the lock.
 *
 * RETURNING: read a write statement's rows with `all()`, never `get()`. better-sqlite3's `get()`
 * steps once and then resets the statement, and ignores what the reset returns. Outside a
 * transaction the commit happens in that reset, so a commit that fails (SQLITE_FULL on a full
 * disk) rolls the write back while `get()` returns the row as if it had happened. `all()` and
 * `run()` step to the end and throw. (Inside a transaction the COMMIT throws instead; `all()` is
 * still the rule, so that a statement stays safe wherever it is called.)
 */
export function openDatabase(databasePath: string): Db {
  if (databasePath !== ":memory:") {
    mkdirSync(path.dirname(databasePath), { recursive: true });
  }
  const client = new Database(databasePath);
  client.pragma("journal_mode = WAL");
  client.pragma("synchronous = NORMAL");
  client.pragma("busy_timeout = 5000");
  client.pragma("foreign_keys = ON");
  return drizzle(client, { schema }) as Db;
}
