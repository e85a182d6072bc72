import { openDatabase } from "../store/db.js";
import { migrateDatabase } from "../store/migrate.js";
import { loadConfigOrExit } from "./serve.js";

/** `ferry migrate`: apply pending migrations without starting the server. */
export function runMigrate(): void {
  const config = loadConfigOrExit();
  const db = openDatabase(config.databasePath);
  migrateDatabase(db);
  db.$client.close();
  console.log(`ferry: database at ${config.databasePath} is up to date.`);
}
