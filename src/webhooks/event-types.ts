/**
 * The event types ferry sends. OpenAI's own, for background responses and batches, with the
 * shape OpenAI gives them (`{id, object: "event", created_at, type, data: {id}}`); and ferry's
 * extension for streams, whose `data` also names the item and how it ended.
 */
export const RESPONSE_EVENT_TYPES = [
  "response.completed",
  "response.failed",
  "response.cancelled",
  "response.incomplete",
] as const;

export const BATCH_EVENT_TYPES = [
  "batch.completed",
  "batch.failed",
  "batch.cancelled",
  "batch.expired",
] as const;

/** ferry's: a deferred response of a stream ended (completed, failed, cancelled, expired). */
export const STREAM_EVENT_TYPES = ["stream.item.completed"] as const;

export const WEBHOOK_EVENT_TYPES = [
  ...RESPONSE_EVENT_TYPES,
  ...BATCH_EVENT_TYPES,
  ...STREAM_EVENT_TYPES,
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const KNOWN = new Set<string>(WEBHOOK_EVENT_TYPES);

export function isWebhookEventType(type: string): type is WebhookEventType {
  return KNOWN.has(type);
}

/** The event a background response's terminal status causes. */
export function responseEventType(
  status: "completed" | "failed" | "cancelled" | "incomplete",
): WebhookEventType {
  return `response.${status}`;
}

/** The event a batch's terminal status causes. */
export function batchEventType(
  status: "completed" | "failed" | "cancelled" | "expired",
): WebhookEventType {
  return `batch.${status}`;
}
