import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createSilentLogger } from "../../src/lib/logger.js";
import { startCheckpointer } from "../../src/store/checkpointer.js";
import { type Db, openDatabase } from "../../src/store/db.js";

let dir: string;
let databasePath: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "ferry-checkpoint-"));
  databasePath = path.join(dir, "ferry.db");
  db = openDatabase(databasePath);
  db.$client.exec("create table pages (id integer primary key, body text not null)");
});
afterEach(() => {
  db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

const PAGE_SIZE = 4096;
const insert = () => db.$client.prepare("insert into pages (body) values (?)");

/** Writes `pages` rows of about a page each, a transaction at a time. */
function writePages(pages: number): void {
  const statement = insert();
  const writeMany = db.$client.transaction((count: number) => {
    for (let i = 0; i < count; i++) {
      statement.run("x".repeat(PAGE_SIZE - 200));
    }
  });
  for (let written = 0; written < pages; written += 50) {
    writeMany(50);
  }
}

const autocheckpoint = () => db.$client.pragma("wal_autocheckpoint", { simple: true });
const fileBytes = (name: string) => statSync(path.join(dir, name), { throwIfNoEntry: false })?.size;

describe("startCheckpointer", () => {
  it("copies committed pages into the database file from its own thread", async () => {
    const checkpointer = startCheckpointer(db.$client, databasePath, createSilentLogger(), {
      intervalMs: 10,
      idleIntervalMs: 40,
      restartPages: 100_000,
    });
    try {
      await vi.waitUntil(() => autocheckpoint() === 100_000, { timeout: 5_000 });
      const before = fileBytes("ferry.db") ?? 0;
      writePages(500);
      // The event loop never checkpoints here (500 < 100,000 pages), so only the worker can
      // have grown the database file.
      await vi.waitUntil(() => (fileBytes("ferry.db") ?? 0) >= before + 400 * PAGE_SIZE, {
        timeout: 5_000,
      });
    } finally {
      await checkpointer.close();
    }
    expect(autocheckpoint()).toBe(1000);
  });

  it("keeps the WAL bounded under writes that never pause", async () => {
    const checkpointer = startCheckpointer(db.$client, databasePath, createSilentLogger(), {
      intervalMs: 10,
      idleIntervalMs: 40,
      restartPages: 200,
    });
    try {
      await vi.waitUntil(() => autocheckpoint() === 200, { timeout: 5_000 });
      writePages(3_000);
    } finally {
      await checkpointer.close();
    }
    // Without the in-line backstop the WAL would hold ~3,000 pages; it rewinds at ~200.
    expect(fileBytes("ferry.db-wal") ?? 0).toBeLessThan(600 * (PAGE_SIZE + 24));
    expect(db.$client.prepare("select count(*) as n from pages").get()).toEqual({ n: 3_000 });
  });

  it("falls back to in-line checkpoints when the worker cannot open the database", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => lines.push(line) });
    const checkpointer = startCheckpointer(db.$client, path.join(dir, "missing.db"), logger);
    await vi.waitUntil(() => lines.some((line) => line.includes("checkpoint worker failed")), {
      timeout: 5_000,
    });
    await checkpointer.close();
    expect(autocheckpoint()).toBe(1000);
  });
});
