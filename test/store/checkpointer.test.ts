import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type Database from "better-sqlite3";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createSilentLogger } from "../../src/lib/logger.js";
import { startCheckpointer } from "../../src/store/checkpointer.js";
import { type Db, openDatabase } from "../../src/store/db.js";
import { mountSmallDisk, type SmallDisk, smallDiskUnavailable } from "../helpers/small-disk.js";

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

describe.skipIf(smallDiskUnavailable !== null)(
  `startCheckpointer on a full disk${smallDiskUnavailable === null ? "" : ` (skipped: ${smallDiskUnavailable})`}`,
  () => {
    let disk: SmallDisk;
    let diskDb: Db;
    beforeEach(() => {
      disk = mountSmallDisk(32 * 1024 * 1024);
      diskDb = openDatabase(path.join(disk.dir, "ferry.db"));
      diskDb.$client.exec("create table pages (id integer primary key, body text not null)");
    });
    afterEach(() => {
      diskDb.$client.close();
      disk.remove();
    });

    it("restarts a worker that died, with a doubling back-off, while in-line checkpoints bound the WAL", async () => {
      const client = diskDb.$client;
      const walBytes = () => statSync(path.join(disk.dir, "ferry.db-wal")).size;
      const writeRows = (rows: number) => {
        const statement = client.prepare("insert into pages (body) values (?)");
        const writeMany = client.transaction((count: number) => {
          for (let i = 0; i < count; i++) {
            statement.run("x".repeat(PAGE_SIZE - 200));
          }
        });
        for (let written = 0; written < rows; written += 50) {
          writeMany(50);
        }
      };
      // Pages in the WAL that the database file has no room for: the worker's first
      // checkpoint must grow the file, and fails with SQLITE_FULL.
      client.pragma("wal_autocheckpoint = 0");
      writeRows(100);
      disk.fill();

      const restarts: { start: () => void; delayMs: number }[] = [];
      const lines: string[] = [];
      const checkpointer = startCheckpointer(
        client,
        path.join(disk.dir, "ferry.db"),
        pino({ level: "error" }, { write: (line: string) => lines.push(line) }),
        {
          intervalMs: 10,
          idleIntervalMs: 40,
          restartPages: 100_000,
          restartDelayMs: 100,
          maxRestartDelayMs: 400,
          schedule: (start, delayMs) => {
            restarts.push({ start, delayMs });
            return () => {};
          },
        },
      );
      const restartOnCue = async () => {
        const pending = restarts.length;
        restarts.at(-1)?.start();
        await vi.waitUntil(() => restarts.length > pending, { timeout: 5_000 });
      };
      try {
        await vi.waitUntil(() => restarts.length === 1, { timeout: 5_000 });
        expect(JSON.parse(lines[0] ?? "{}")).toMatchObject({
          msg: expect.stringContaining("checkpoint worker failed"),
          err: { code: "SQLITE_FULL" },
          restartInMs: 100,
        });
        // Dead, so in-line checkpoints are back (the worker never took over).
        expect(autocheckpointOf(client)).toBe(1000);
        await restartOnCue();
        await restartOnCue();
        await restartOnCue();
        // One restart per death, each scheduled later than the one before: never a hot loop.
        expect(restarts.map((restart) => restart.delayMs)).toEqual([100, 200, 400, 400]);

        // Space again, the worker still down: the in-line backstop keeps the WAL near 1,000
        // pages; with the worker's 100,000 it would hold all 2,500.
        disk.free();
        writeRows(2_500);
        expect(walBytes()).toBeLessThan(1_200 * (PAGE_SIZE + 24));

        restarts.at(-1)?.start();
        await vi.waitUntil(() => autocheckpointOf(client) === 100_000, { timeout: 5_000 });

        // Full again: new rows still fit in WAL pages the file already has, but the worker
        // cannot copy them into the database file. Having checkpointed, it starts over at 100.
        disk.fill();
        writeRows(50);
        await vi.waitUntil(() => restarts.length === 5, { timeout: 5_000 });
        expect(restarts.at(-1)?.delayMs).toBe(100);
        expect(JSON.parse(lines.at(-1) ?? "{}")).toMatchObject({ err: { code: "SQLITE_FULL" } });
        expect(autocheckpointOf(client)).toBe(1000);
      } finally {
        await checkpointer.close();
      }
    });
  },
);

function autocheckpointOf(client: Database.Database): unknown {
  return client.pragma("wal_autocheckpoint", { simple: true });
}
