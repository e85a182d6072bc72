import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/lib/clock.js";
import { openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { createWebhookDeliveryStore } from "../../src/store/webhook-deliveries.js";
import { createOutbox } from "../../src/webhooks/create-outbox.js";
import { waitForExit } from "../helpers/spawn-ferry.js";
import { createTestDirectory } from "./delivery-directory.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await waitForExit(child);
    }
  }
});

function startLane(databasePath: string, key: Buffer, owner: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "test/webhooks/lane-process.ts", databasePath, key.toString("hex"), owner],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? "" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = "";
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("lane started")) {
        resolve(child);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", () => reject(new Error(`the lane process exited: ${output}`)));
  });
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("a delivery lane killed with kill -9", () => {
  it("loses no event: another process delivers everything with the same webhook-ids", {
    timeout: 120_000,
  }, async () => {
    const received: string[] = [];
    // Slow answers, so that the kill lands while attempts are in flight.
    const server = createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        received.push(String(request.headers["webhook-id"]));
        setTimeout(() => response.writeHead(200).end(), 100);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

    const databasePath = path.join(mkdtempSync(path.join(tmpdir(), "ferry-crash-")), "ferry.db");
    const key = randomBytes(32);
    const db = openDatabase(databasePath);
    migrateDatabase(db);
    const directory = createTestDirectory(db, key);
    directory.addEndpoint({ projectId: "proj_a", url });
    const store = createWebhookDeliveryStore(db);
    const outbox = createOutbox({
      store,
      directory,
      clock: systemClock,
      retryForMs: 3_600_000,
      onNotify: () => {},
    });
    db.$client.transaction(() => {
      for (let i = 0; i < 120; i += 1) {
        outbox.record({
          projectId: "proj_a",
          type: "response.completed",
          subjectId: `resp_${i}`,
          createdAt: 1,
        });
      }
    })();
    const ids = (
      db.$client.prepare(`SELECT id FROM webhook_deliveries`).all() as { id: string }[]
    ).map((row) => row.id);
    const delivered = () =>
      (
        db.$client
          .prepare(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'delivered'`)
          .get() as { n: number }
      ).n;

    const first = await startLane(databasePath, key, "process_one");
    await waitFor("some deliveries", () => received.length >= 30);
    first.kill("SIGKILL");
    await waitForExit(first);
    const deliveredBeforeKill = delivered();
    expect(deliveredBeforeKill).toBeLessThan(120);

    await startLane(databasePath, key, "process_two");
    await waitFor("every delivery", () => delivered() === 120);

    // Every event arrived, always under its delivery's id; duplicates only of those the kill cut
    // short (at most the lane's concurrency of 8 in flight, answered or not).
    expect(new Set(received)).toEqual(new Set(ids));
    expect(received.length - ids.length).toBeLessThanOrEqual(8);
    const attemptRows = db.$client
      .prepare(`SELECT COUNT(*) AS n FROM webhook_delivery_attempts WHERE status_code = 200`)
      .get() as { n: number };
    expect(attemptRows.n).toBe(120);
    db.$client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
