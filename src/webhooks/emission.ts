import { batchEventType, responseEventType } from "./event-types.js";
import type { Outbox } from "./outbox.js";

/**
 * The events ferry's state changes cause, recorded in the outbox by the code that makes the
 * change, inside its transaction and only when its guarded update changed the row. These name
 * the event for a terminal status, so the callers stay one line each.
 */

/**
 * For callers that run without delivery (the CLI, tools over a database copy): records nothing.
 * A server composes the real outbox (the delivery lane's) and passes it to createServices.
 */
export const NO_OUTBOX: Outbox = {
  record: () => false,
  notify: () => {},
};

/** A response's terminal status as its event names it: an expired one failed, as OpenAI says. */
const RESPONSE_EVENT_STATUS = {
  completed: "completed",
  failed: "failed",
  incomplete: "incomplete",
  cancelled: "cancelled",
  expired: "failed",
} as const;

/**
 * Records `response.<status>` for a background response that just ended. Synchronous responses
 * cause no event (OpenAI sends them only for background ones). `object` is the Response as GET
 * returns it, read after the change, for the response's callback.
 */
export function recordResponseEnded(
  outbox: Outbox,
  row: { readonly id: string; readonly projectId: string; readonly background: boolean },
  status: string,
  nowSeconds: number,
  object: () => unknown,
): void {
  const eventStatus = RESPONSE_EVENT_STATUS[status as keyof typeof RESPONSE_EVENT_STATUS];
  if (!row.background || eventStatus === undefined) {
    return;
  }
  outbox.record({
    projectId: row.projectId,
    type: responseEventType(eventStatus),
    subjectId: row.id,
    createdAt: nowSeconds,
    object,
  });
}

/** Records `batch.<status>` for a batch that just ended; `object` is the Batch as GET returns it. */
export function recordBatchEnded(
  outbox: Outbox,
  batch: { readonly id: string; readonly projectId: string },
  status: "completed" | "failed" | "cancelled" | "expired",
  nowSeconds: number,
  object: () => unknown,
): void {
  outbox.record({
    projectId: batch.projectId,
    type: batchEventType(status),
    subjectId: batch.id,
    createdAt: nowSeconds,
    object,
  });
}
