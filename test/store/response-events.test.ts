import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ResponseStreamEvent } from "../../src/contract/response-object.js";
import { type Db, openDatabase } from "../../src/store/db.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import {
  createResponseEventStore,
  type ResponseEventStore,
} from "../../src/store/response-events.js";
import { createResponseStore } from "../../src/store/responses.js";

let db: Db;
let events: ResponseEventStore;
beforeEach(() => {
  db = openDatabase(":memory:");
  migrateDatabase(db);
  events = createResponseEventStore(db);
  createResponseStore(db).insert({
    id: "resp_1",
    projectId: "default",
    status: "in_progress",
    model: "m",
    createdAt: 1,
    completedAt: null,
    background: true,
    streamed: true,
    previousResponseId: null,
    params: {},
    metadata: {},
    inputItems: [],
    output: [],
    usage: null,
    error: null,
  });
});
afterEach(() => db.$client.close());

const event = (type: string, sequenceNumber: number): ResponseStreamEvent => ({
  type,
  sequence_number: sequenceNumber,
});

describe("ResponseEventStore numbering", () => {
  it("goes on after the stored events, and after the numbers a lost run reserved", () => {
    expect(events.nextSequenceNumber("resp_1")).toBe(0);
    events.insertMany("resp_1", [event("response.created", 0), event("response.queued", 1)]);
    expect(events.nextSequenceNumber("resp_1")).toBe(2);
    events.reserveThrough("resp_1", 65);
    events.reserveThrough("resp_1", 129);
    expect(events.nextSequenceNumber("resp_1")).toBe(130);
    events.insertMany("resp_1", [event("response.in_progress", 130)]);
    expect(events.nextSequenceNumber("resp_1")).toBe(131);
  });

  it("never replays the reservation", () => {
    events.insertMany("resp_1", [event("response.created", 0)]);
    events.reserveThrough("resp_1", 63);
    expect(events.listAfter("resp_1", -1)).toEqual([event("response.created", 0)]);
    expect(events.listAfter("resp_1", -5)).toEqual([event("response.created", 0)]);
    expect(events.listAfter("resp_1", 0)).toEqual([]);
  });
});
