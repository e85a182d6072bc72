import { fileURLToPath } from "node:url";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import type { Db } from "./db.js";

// src/store/migrate.ts and dist/store/migrate.js sit at the same depth below the repo root.
const MIGRATIONS_FOLDER = fileURLToPath(new URL("../../migrations", import.meta.url));

/** Applies pending drizzle-kit migrations in one transaction each; a no-op when up to date. */
export function migrateDatabase(db: Db): void {
  migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
}
