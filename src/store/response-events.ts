import { and, asc, eq, gt } from "drizzle-orm";
import type { ResponseStreamEvent } from "../contract/response-object.js";
import type { Db } from "./db.js";
import { responseEvents } from "./schema.js";

/** Stored SSE events of streamed background responses, for replay from a sequence number. */
export interface ResponseEventStore {
  insertMany(responseId: string, events: readonly ResponseStreamEvent[]): void;
  listAfter(responseId: string, startingAfter: number): ResponseStreamEvent[];
}

export function createResponseEventStore(db: Db): ResponseEventStore {
  return {
    insertMany(responseId, events) {
      if (events.length === 0) {
        return;
      }
      db.insert(responseEvents)
        .values(
          events.map((event) => ({ responseId, sequenceNumber: event.sequence_number, event })),
        )
        .onConflictDoNothing()
        .run();
    },
    listAfter(responseId, startingAfter) {
      return db
        .select({ event: responseEvents.event })
        .from(responseEvents)
        .where(
          and(
            eq(responseEvents.responseId, responseId),
            gt(responseEvents.sequenceNumber, startingAfter),
          ),
        )
        .orderBy(asc(responseEvents.sequenceNumber))
        .all()
        .map((row) => row.event as ResponseStreamEvent);
    },
  };
}
