import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGroupCommit } from "../../src/store/group-commit.js";

let client: Database.Database;
beforeEach(() => {
  client = new Database(":memory:");
  client.exec("create table t (v integer primary key)");
});
afterEach(() => client.close());

function count(): number {
  return (client.prepare("select count(*) as n from t").get() as { n: number }).n;
}

describe("createGroupCommit", () => {
  it("commits the queued items in one transaction on the next turn", async () => {
    const insert = client.prepare("insert into t (v) values (?)");
    const inTransaction: boolean[] = [];
    const commits = createGroupCommit<number>(client, (v) => {
      inTransaction.push(client.inTransaction);
      insert.run(v);
    });
    const pending = [1, 2, 3].map((v) => commits.add(v));
    expect(count()).toBe(0);
    await Promise.all(pending);
    expect(count()).toBe(3);
    expect(inTransaction).toEqual([true, true, true]);
  });

  it("flushes at once when maxItems are queued", async () => {
    const insert = client.prepare("insert into t (v) values (?)");
    const commits = createGroupCommit<number>(client, (v) => insert.run(v), { maxItems: 2 });
    const first = commits.add(1);
    expect(count()).toBe(0);
    const second = commits.add(2);
    expect(count()).toBe(2);
    await Promise.all([first, second]);
  });

  it("rolls back and rejects the whole group when one write throws", async () => {
    const insert = client.prepare("insert into t (v) values (?)");
    const commits = createGroupCommit<number>(client, (v) => {
      if (v === 2) {
        throw new Error("boom");
      }
      insert.run(v);
    });
    const results = await Promise.allSettled([1, 2, 3].map((v) => commits.add(v)));
    expect(results.every((result) => result.status === "rejected")).toBe(true);
    expect(count()).toBe(0);
  });
});
