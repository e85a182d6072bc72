import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Db, openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { createResponseListStore, type ResponseListStore } from "../../src/store/response-list.js";
import { createResponseStore, type ResponseStore } from "../../src/store/responses.js";
import type { NewResponseRow } from "../../src/store/schema.js";

let db: Db;
let store: ResponseStore;
let list: ResponseListStore;
beforeEach(() => {
  db = openDatabase(":memory:");
  migrateDatabase(db);
  store = createResponseStore(db);
  list = createResponseListStore(db);
});
afterEach(() => db.$client.close());

function insert(id: string, createdAt: number, fields: Partial<NewResponseRow> = {}): void {
  store.insert({
    id,
    projectId: "p1",
    status: "completed",
    model: "m",
    createdAt,
    params: {},
    metadata: {},
    inputItems: [],
    output: [],
    ...fields,
  });
}

/** Every id, page by page of `limit`, following `after` like the API does. */
function pageThrough(limit: number, streamId?: string): string[][] {
  const pages: string[][] = [];
  let after = null;
  for (;;) {
    const rows = list.list("p1", { after, limit, streamId });
    if (rows.length === 0) {
      return pages;
    }
    pages.push(rows.map((row) => row.id));
    after = store.findById(rows[rows.length - 1]?.id ?? "") ?? null;
  }
}

describe("ResponseListStore.list", () => {
  it("pages newest first, in insertion order within a second, with no gap or repeat", () => {
    // Ids in an order unrelated to time: the order must come from created_at and insertion.
    insert("resp_c", 100);
    insert("resp_a", 100);
    insert("resp_z", 200);
    insert("resp_b", 200);
    insert("resp_y", 200);
    insert("resp_other", 300, { projectId: "p2" });
    insert("resp_x", 300);
    expect(pageThrough(2)).toEqual([
      ["resp_x", "resp_y"],
      ["resp_b", "resp_z"],
      ["resp_a", "resp_c"],
    ]);
  });

  it("pages one stream's responses the same way", () => {
    insert("resp_1", 100, { streamId: "s1" });
    insert("resp_2", 100, { streamId: "s2" });
    insert("resp_3", 100, { streamId: "s1" });
    insert("resp_4", 100);
    insert("resp_5", 101, { streamId: "s1" });
    expect(pageThrough(1, "s1")).toEqual([["resp_5"], ["resp_3"], ["resp_1"]]);
  });
});
