import { and, asc, eq, gt, max } from "drizzle-orm";
import type { ResponseStreamEvent } from "../contract/response-object.js";
import type { Db } from "./db.js";
import { responseEvents } from "./schema.js";

/**
 * Stored SSE events of streamed background responses, for replay from a sequence number.
 *
 * A run publishes its events live and stores them only when it ends (in the results
 * transaction), so after a crash the table does not say how far the lost run had numbered. The
 * run therefore reserves its numbers ahead of publishing them, in a row of its own at sequence
 * number -1 (`{"reserved_through": n}`), never replayed: a re-run numbers its events after every
 * number stored or reserved, so `starting_after` from the lost run can never select events of
 * the new one that reuse its numbers.
 */
export interface ResponseEventStore {
  insertMany(responseId: string, events: readonly ResponseStreamEvent[]): void;
  listAfter(responseId: string, startingAfter: number): ResponseStreamEvent[];
  /** The number after every event stored or reserved (0 for none): where numbering goes on. */
  nextSequenceNumber(responseId: string): number;
  /** Records that numbers up to `lastSequenceNumber` may be published before they are stored. */
  reserveThrough(responseId: string, lastSequenceNumber: number): void;
}

const RESERVATION_ROW = -1;

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
            gt(responseEvents.sequenceNumber, Math.max(startingAfter, RESERVATION_ROW)),
          ),
        )
        .orderBy(asc(responseEvents.sequenceNumber))
        .all()
        .map((row) => row.event as ResponseStreamEvent);
    },
    nextSequenceNumber(responseId) {
      const stored = db
        .select({ last: max(responseEvents.sequenceNumber) })
        .from(responseEvents)
        .where(eq(responseEvents.responseId, responseId))
        .get();
      const reservation = db
        .select({ event: responseEvents.event })
        .from(responseEvents)
        .where(
          and(
            eq(responseEvents.responseId, responseId),
            eq(responseEvents.sequenceNumber, RESERVATION_ROW),
          ),
        )
        .get();
      const reserved = Number(reservation?.event.reserved_through ?? RESERVATION_ROW);
      return Math.max(stored?.last ?? RESERVATION_ROW, reserved) + 1;
    },
    reserveThrough(responseId, lastSequenceNumber) {
      const event = { reserved_through: lastSequenceNumber };
      db.insert(responseEvents)
        .values({ responseId, sequenceNumber: RESERVATION_ROW, event })
        .onConflictDoUpdate({
          target: [responseEvents.responseId, responseEvents.sequenceNumber],
          set: { event },
        })
        .run();
    },
  };
}
