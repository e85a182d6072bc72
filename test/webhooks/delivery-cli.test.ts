import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { systemClock } from "../../src/lib/clock.js";
import { openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { createWebhookDeliveryStore } from "../../src/store/webhook-deliveries.js";
import { createOutbox } from "../../src/webhooks/create-outbox.js";
import { createTestDirectory } from "./delivery-directory.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function runCli(dataDir: string, args: string[]) {
  const result = spawnSync(
    process.execPath,
    ["--import", "tsx", "src/main.ts", "webhooks", ...args],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? "", FERRY_DATA_DIR: dataDir }, encoding: "utf8" },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("ferry webhooks deliveries|attempts", () => {
  it("lists a project's deliveries and shows one's attempts", { timeout: 60_000 }, () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "ferry-cli-"));
    const db = openDatabase(path.join(dataDir, "ferry.db"));
    migrateDatabase(db);
    const directory = createTestDirectory(db);
    const endpoint = directory.addEndpoint({ projectId: "proj_a", url: "http://127.0.0.1:9/hook" });
    const store = createWebhookDeliveryStore(db);
    const outbox = createOutbox({
      store,
      directory,
      clock: systemClock,
      retryForMs: 60_000,
      onNotify: () => {},
    });
    db.$client.transaction(() =>
      outbox.record({
        projectId: "proj_a",
        type: "response.completed",
        subjectId: "resp_1",
        createdAt: 1,
      }),
    )();
    const [claimed] = store.claimDue("lane_cli", Date.now(), Date.now() + 60_000, 1);
    const id = claimed?.id ?? "";
    db.$client.transaction(() =>
      store.recordOutcome({
        deliveryId: id,
        leaseOwner: "lane_cli",
        attempt: {
          startedAtMs: Date.now(),
          latencyMs: 7,
          statusCode: 503,
          error: "the receiver answered 503",
        },
        outcome: { kind: "retry", nextAttemptAtMs: Date.now() + 5_000 },
      }),
    )();
    db.$client.close();

    const listed = runCli(dataDir, ["deliveries", "--project", "proj_a", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const page = JSON.parse(listed.stdout);
    expect(page).toMatchObject({ object: "list", has_more: false });
    expect(page.data).toMatchObject([
      { id, endpoint_id: endpoint.id, status: "pending", attempts: 1, last_status_code: 503 },
    ]);
    const text = runCli(dataDir, ["deliveries", "--project", "proj_a", "--status", "pending"]);
    expect(text.stdout).toContain(`${id}  pending  attempts=1  ${endpoint.id}`);
    expect(runCli(dataDir, ["deliveries", "--project", "proj_b", "--json"]).stdout).toContain(
      '"data": []',
    );

    const attempts = runCli(dataDir, ["attempts", id, "--project", "proj_a"]);
    expect(attempts.code, attempts.stderr).toBe(0);
    expect(attempts.stdout).toMatch(/#1 {2}\S+ {2}503 {2}7 ms {2}the receiver answered 503/);

    const missing = runCli(dataDir, ["attempts", "wh_nope", "--project", "proj_a"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("No webhook delivery found with id 'wh_nope'");
    const bad = runCli(dataDir, ["deliveries", "--project", "proj_a", "--status", "done"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--status: one of pending, delivered, failed, cancelled");
  });
});
