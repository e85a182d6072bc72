import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { afterEach, describe, expect, it } from "vitest";
import { createLaneShares } from "../../src/executor/lane-shares.js";
import { type Db, openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { createClaimRotation, createWorkStore } from "../../src/store/work-items.js";

/** Migration 0009 on a database made before it: queued rows keep their place and run. */

const MIGRATIONS = fileURLToPath(new URL("../../migrations", import.meta.url));
const BEFORE_DISPATCH_RANK = 9; // journal entries 0000..0008

let db: Db | undefined;
let folder: string | undefined;
afterEach(() => {
  db?.$client.close();
  if (folder !== undefined) {
    rmSync(folder, { recursive: true, force: true });
  }
});

/** The migrations folder as it was before 0009. */
function migrationsBeforeDispatchRank(): string {
  folder = mkdtempSync(path.join(tmpdir(), "ferry-migrations-"));
  cpSync(MIGRATIONS, folder, { recursive: true });
  const journalPath = path.join(folder, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: unknown[] };
  journal.entries = journal.entries.slice(0, BEFORE_DISPATCH_RANK);
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

describe("migration 0009 (dispatch_rank)", () => {
  it("gives existing rows rank 0, extends the claim index, and the old queue still runs in id order", () => {
    db = openDatabase(":memory:");
    migrate(db, { migrationsFolder: migrationsBeforeDispatchRank() });
    const sqlite = db.$client;
    const columns = () =>
      (sqlite.prepare("PRAGMA table_info(work_items)").all() as { name: string }[]).map(
        (column) => column.name,
      );
    expect(columns()).not.toContain("dispatch_rank");
    const insert = sqlite.prepare(
      `INSERT INTO work_items (kind, subject_id, project_id, lane, owner_key, backend, status, payload, created_at_ms)
       VALUES ('job', ?, 'p', 2, 'batch_old', 'mock', 'queued', '{}', 0)`,
    );
    for (const subject of ["r1", "r2", "r3"]) {
      insert.run(subject);
    }

    migrateDatabase(db);
    expect(columns()).toContain("dispatch_rank");
    expect(sqlite.prepare("SELECT DISTINCT dispatch_rank AS rank FROM work_items").all()).toEqual([
      { rank: 0 },
    ]);
    const indexColumns = (
      sqlite.prepare("PRAGMA index_info(work_items_claim_by_project)").all() as { name: string }[]
    ).map((column) => column.name);
    expect(indexColumns).toEqual([
      "status",
      "backend",
      "lane",
      "project_id",
      "owner_key",
      "dispatch_rank",
      "id",
    ]);
    const claimed = createWorkStore(db).claim({
      backend: "mock",
      leaseOwner: "o",
      limit: 3,
      nowMs: 0,
      leaseMs: 1000,
      lanes: createLaneShares(new Map()),
      rotation: createClaimRotation(),
    });
    expect(claimed.map((item) => item.subjectId)).toEqual(["r1", "r2", "r3"]);
  });
});
