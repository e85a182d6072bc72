import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Db, openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { createResponseStore, type ResponseStore } from "../../src/store/responses.js";
import { type NewResponseRow, responses } from "../../src/store/schema.js";

let db: Db;
let store: ResponseStore;
beforeEach(() => {
  db = openDatabase(":memory:");
  migrateDatabase(db);
  store = createResponseStore(db);
});
afterEach(() => db.$client.close());

function row(id: string, overrides: Partial<NewResponseRow> = {}): NewResponseRow {
  return {
    id,
    projectId: "default",
    status: "completed",
    model: "gpt-4o-mini",
    createdAt: 1_760_000_000,
    completedAt: 1_760_000_001,
    background: true,
    previousResponseId: null,
    params: { temperature: 1, tools: [] },
    metadata: { k: "v" },
    inputItems: [{ id: "msg_1", type: "message" }],
    output: [],
    usage: null,
    error: null,
    ...overrides,
  };
}

function rawRow(id: string): unknown {
  return db.$client.prepare("select * from responses where id = ?").get(id);
}

describe("ResponseStore.insert", () => {
  it("stores exactly what a drizzle insert stores: JSON text, 0/1 booleans, NULLs, defaults", () => {
    store.insert(row("resp_prepared"));
    db.insert(responses).values(row("resp_drizzle")).run();
    const { id: _a, ...prepared } = rawRow("resp_prepared") as Record<string, unknown>;
    const { id: _b, ...viaDrizzle } = rawRow("resp_drizzle") as Record<string, unknown>;
    expect(prepared).toEqual(viaDrizzle);
    // streamed was omitted: its default applies; incompleteDetails was omitted: NULL.
    expect(prepared).toMatchObject({ background: 1, streamed: 0, usage: null, error: null });
    expect(prepared.incomplete_details).toBeNull();
    expect(store.findById("resp_prepared")).toMatchObject({
      params: { temperature: 1, tools: [] },
      metadata: { k: "v" },
      background: true,
      streamed: false,
    });
  });
});

describe("ResponseStore.insertDurably", () => {
  it("writes the rows queued in one turn together and resolves once they are committed", async () => {
    const pending = [store.insertDurably(row("resp_1")), store.insertDurably(row("resp_2"))];
    expect(store.findById("resp_1")).toBeUndefined();
    await Promise.all(pending);
    expect(store.findById("resp_1")?.status).toBe("completed");
    expect(store.findById("resp_2")?.status).toBe("completed");
  });

  it("rejects every row of a group whose transaction fails, and writes none of them", async () => {
    store.insert(row("resp_taken"));
    const results = await Promise.allSettled([
      store.insertDurably(row("resp_fine")),
      store.insertDurably(row("resp_taken")),
    ]);
    expect(results.map((result) => result.status)).toEqual(["rejected", "rejected"]);
    expect(store.findById("resp_fine")).toBeUndefined();
    // The next group is unaffected.
    await store.insertDurably(row("resp_later"));
    expect(store.findById("resp_later")).toBeDefined();
  });
});
