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

/** SQLite's plan for a statement, one line per step; 1 for every parameter. */
function planOf(source: string): string[] {
  const statement = db.$client.prepare(`EXPLAIN QUERY PLAN ${source}`);
  const names = [...new Set([...source.matchAll(/@(\w+)/g)].map((match) => match[1] as string))];
  const rows =
    names.length > 0
      ? statement.all(Object.fromEntries(names.map((name) => [name, 1])))
      : statement.all(...Array.from(source.match(/\?/g) ?? [], () => 1));
  return (rows as { detail: string }[]).map((row) => row.detail);
}

describe("every statement on the queue", () => {
  it("reads work_items through an index, never a scan of the table or a sort", () => {
    const prepared = sqlPreparedBy(() => {
      createWorkStore(db);
      createBatchLineStore(db);
    }).filter((source) => !source.trimStart().startsWith("INSERT"));
    // claim: lanes, projects x2, owners x2, claimOfOwner; lease: heartbeat, finish, retry,
    // release, requeueExpired; cancel; queued count; batch lines: release, delete, counts,
    // cancel, and the page reads of results.
    expect(prepared.length).toBeGreaterThanOrEqual(20);
    for (const source of prepared) {
      const plan = planOf(source);
      const text = `${source}\n${plan.join("\n")}`;
      const onWorkItems = plan.filter((detail) => /\bwork_items\b/.test(detail));
      expect(onWorkItems.length, text).toBeGreaterThan(0);
      for (const detail of onWorkItems) {
        expect(detail, text).toMatch(/^SEARCH work_items USING /);
      }
      expect(
        plan.some((detail) => detail.includes("TEMP B-TREE")),
        text,
      ).toBe(false);
    }
  });

  it("claims an owner's rows in dispatch order straight off the claim index", () => {
    const prepared = sqlPreparedBy(() => createWorkStore(db));
    const claimOfOwner = prepared.find((source) => source.includes("ORDER BY dispatch_rank, id"));
    expect(claimOfOwner).toBeDefined();
    expect(planOf(claimOfOwner as string)).toEqual([
      "SEARCH work_items USING INTEGER PRIMARY KEY (rowid=?)",
      "LIST SUBQUERY 1",
      "SEARCH work_items USING INDEX work_items_claim_by_project (status=? AND backend=? AND lane=? AND project_id=? AND owner_key=?)",
    ]);
  });
});

describe("the dispatch order within an owner", () => {
  const claimOf = (work: ReturnType<typeof createWorkStore>, limit: number, nowMs = 0) =>
    work.claim({
      backend: "mock",
      leaseOwner: "o",
      limit,
      nowMs,
      leaseMs: 1000,
      lanes: createLaneShares(new Map()),
      rotation: createClaimRotation(),
    });
  const batchOf = (id: string, ranks: readonly number[]) => {
    const lines = createBatchLineStore(db);
    lines.insertHeld(
      { id, projectId: `p_${id}`, backend: "mock", lane: 2, nowMs: 0 },
      ranks.map((dispatchRank, index) => ({
        line: index + 1,
        customId: `${id}-${index + 1}`,
        payload: {},
        dispatchRank,
      })),
    );
    lines.releaseHeld(id);
  };
  const customIdOf = (id: number, work: ReturnType<typeof createWorkStore>) =>
    work.find(id)?.itemKey;

  it("is (dispatch_rank, id), and a retried row keeps its place", () => {
    const work = createWorkStore(db);
    batchOf("b", [7, 3, 7, 3, 5]);
    const first = claimOf(work, 2);
    expect(first.map((item) => customIdOf(item.id, work))).toEqual(["b-2", "b-4"]);
    const [retried] = first;
    work.retryLater(retried?.id as number, "o", 0, "HTTP 503");
    expect(claimOf(work, 5).map((item) => customIdOf(item.id, work))).toEqual([
      "b-2",
      "b-5",
      "b-1",
      "b-3",
    ]);
  });

  it("leaves the round-robin between owners as it was", () => {
    const work = createWorkStore(db);
    batchOf("x", [9, 9, 1, 1]);
    batchOf("y", [0, 0, 0, 0]);
    const claimed = claimOf(work, 4).map((item) => customIdOf(item.id, work));
    expect(claimed.sort()).toEqual(["x-3", "x-4", "y-1", "y-2"]);
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
