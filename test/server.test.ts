import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createSilentLogger } from "../src/lib/logger.js";
import { startServer } from "../src/server.js";
import { openDatabase } from "../src/store/db.js";

let blocker: Server | null = null;
let dataDir = "";
afterEach(async () => {
  await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
  blocker = null;
  rmSync(dataDir, { recursive: true, force: true });
});

describe("startServer", () => {
  it("fails on a taken port and leaves the database closed and checkpointed", async () => {
    const taken = createServer();
    blocker = taken;
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const address = taken.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    dataDir = mkdtempSync(path.join(tmpdir(), "ferry-server-"));
    const config = loadConfig({}, { port, host: "127.0.0.1", dataDir });

    await expect(startServer(config, createSilentLogger())).rejects.toMatchObject({
      code: "EADDRINUSE",
    });
    // Closed by the failed start: the last connection's close folded the WAL into ferry.db, and
    // the database opens and migrates as usual afterwards.
    const db = openDatabase(config.databasePath);
    try {
      expect(db.$client.pragma("wal_checkpoint(PASSIVE)", { simple: false })).toEqual([
        { busy: 0, log: 0, checkpointed: 0 },
      ]);
    } finally {
      db.$client.close();
    }
  });
});
