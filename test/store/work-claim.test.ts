import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLaneShares } from "../../src/executor/lane-shares.js";
import { createBatchLineStore } from "../../src/store/batch-lines.js";
import { type Db, openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { createProjectWorkCounts } from "../../src/store/project-work-counts.js";
import { createClaimRotation, createWorkStore } from "../../src/store/work-items.js";

/** The claim's query plans, and the per-project count the queue cap reads. */

let db: Db;
beforeEach(() => {
  db = openDatabase(":memory:");
  migrateDatabase(db);
});
afterEach(() => db.$client.close());

/** The SQL `create` prepares: to ask SQLite how it runs the store's own statements. */
function sqlPreparedBy(create: () => void): string[] {
  const prepared: string[] = [];
  const sqlite = db.$client;
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((source: string) => {
    prepared.push(source);
    return prepare(source);
  }) as typeof sqlite.prepare;
  try {
    create();
  } finally {
    sqlite.prepare = prepare as typeof sqlite.prepare;
  }
  return prepared;
}

describe("the fair claim's statements", () => {
  it("are index seeks on work_items_claim_by_project, never a scan of the queue", () => {
    const prepared = sqlPreparedBy(() => createWorkStore(db));
    const prepare = db.$client.prepare.bind(db.$client);
    const claimStatements = prepared.filter(
      (source) =>
        source.includes("status = 'queued' AND backend = @backend") && !source.includes("COUNT"),
    );
    // lanes, projects (first, after), owners (first, after), the claim itself
    expect(claimStatements).toHaveLength(6);
    const params = {
      backend: "mock",
      lane: 2,
      project: "p",
      owner: "o",
      after: "a",
      limit: 4,
      nowMs: 0,
      leaseOwner: "x",
      leaseExpiresAtMs: 1,
    };
    for (const source of claimStatements) {
      const statement = prepare(`EXPLAIN QUERY PLAN ${source}`);
      const wanted = Object.fromEntries(
        Object.entries(params).filter(([name]) => source.includes(`@${name}`)),
      );
      const plan = (statement.all(wanted) as { detail: string }[]).map((row) => row.detail);
      const onWorkItems = plan.filter((detail) => /\bwork_items\b/.test(detail));
      expect(onWorkItems.length, plan.join("\n")).toBeGreaterThan(0);
      for (const detail of onWorkItems) {
        expect(detail, `${source}\n${plan.join("\n")}`).toMatch(
          /^SEARCH work_items USING (COVERING INDEX work_items_claim_by_project \(status=\? AND backend=\?|INDEX work_items_claim_by_project \(status=\? AND backend=\? AND lane=\? AND project_id=\? AND owner_key=\?\)|INTEGER PRIMARY KEY)/,
        );
      }
    }
  });
});

describe("counting a project's unfinished work", () => {
  it("seeks the project's ranges of the claim index", () => {
    const [source] = sqlPreparedBy(() => createProjectWorkCounts(db));
    const plan = (
      db.$client
        .prepare(`EXPLAIN QUERY PLAN ${source}`)
        .all({ backends: '["mock"]', lanes: "[0,1,2]", projectId: "p" }) as { detail: string }[]
    ).map((row) => row.detail);
    expect(plan.join("\n")).toContain(
      "SEARCH work_items USING COVERING INDEX work_items_claim_by_project (status=? AND backend=? AND lane=? AND project_id=?)",
    );
  });

  it("follows a project's unfinished work through claim, retry, finish, cancel and delete", () => {
    const work = createWorkStore(db);
    const lines = createBatchLineStore(db);
    const counts = createProjectWorkCounts(db);
    const unfinished = (projectId: string) =>
      counts.countUnfinished(projectId, { backends: ["mock"], lanes: [0, 1, 2] });
    const exact = (projectId: string) =>
      (
        db.$client
          .prepare(
            "SELECT COUNT(*) AS n FROM work_items WHERE project_id = ? AND status IN ('held', 'queued', 'running')",
          )
          .get(projectId) as { n: number }
      ).n;
    const enqueue = (subjectId: string) =>
      work.enqueue({
        kind: "k",
        subjectId,
        projectId: "p",
        lane: 0,
        ownerKey: "p",
        backend: "mock",
        payload: {},
        nowMs: 0,
      });
    const claim = () =>
      work.claim({
        backend: "mock",
        leaseOwner: "o",
        limit: 10,
        nowMs: 0,
        leaseMs: 1000,
        lanes: createLaneShares(new Map()),
        rotation: createClaimRotation(),
      });
    const first = enqueue("r1");
    const second = enqueue("r2");
    enqueue("r3");
    lines.insertHeld({ id: "batch_1", projectId: "p", backend: "mock", lane: 2, nowMs: 0 }, [
      { line: 1, customId: "a", payload: {} },
      { line: 2, customId: "b", payload: {} },
    ]);
    expect(unfinished("p")).toBe(5);
    claim();
    expect(unfinished("p")).toBe(5); // queued -> running is still unfinished
    work.retryLater(first, "o", 0, "HTTP 503");
    expect(unfinished("p")).toBe(5);
    claim();
    work.finish(first, "o", "succeeded", 1, null);
    work.finish(second, "o", "failed", 1, "boom");
    expect(unfinished("p")).toBe(3);
    work.cancelSubject("r3", 1);
    expect(unfinished("p")).toBe(2);
    lines.deleteAll("batch_1");
    expect(unfinished("p")).toBe(0);
    expect(unfinished("p")).toBe(exact("p"));
    expect(unfinished("other")).toBe(0);
  });
});
