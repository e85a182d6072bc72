import { ApiError } from "../lib/api-error.js";
import { type Page, toPage } from "../services/paginate.js";
import type { WebhookDeliveryAttemptRow, WebhookDeliveryRow } from "../store/schema.js";
import type { WebhookDeliveryStore } from "../store/webhook-deliveries.js";

/**
 * What ferry did with each event: the deliveries and every attempt, as the admin route
 * (`GET /v1/webhook_deliveries`) and `ferry webhooks deliveries|attempts` show them. Times are
 * unix seconds, as everywhere on the wire.
 */
export interface WebhookDeliveryObject {
  id: string;
  object: "webhook_delivery";
  event_id: string;
  endpoint_id: string | null;
  callback_subject_id: string | null;
  url: string;
  status: string;
  attempts: number;
  /** When the next attempt is due; null once it ended. */
  next_attempt_at: number | null;
  created_at: number;
  delivered_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
}

export interface WebhookDeliveryAttemptObject {
  attempt: number;
  started_at: number;
  latency_ms: number;
  status_code: number | null;
  error: string | null;
}

export type WebhookDeliveryWithAttempts = Omit<WebhookDeliveryObject, "attempts"> & {
  attempts: WebhookDeliveryAttemptObject[];
  /** How many attempts were made (the `attempts` list has each). */
  attempt_count: number;
};

export const DELIVERY_STATUSES = ["pending", "delivered", "failed", "cancelled"] as const;

export interface DeliveryListRequest {
  readonly endpoint_id?: string | undefined;
  readonly status?: (typeof DELIVERY_STATUSES)[number] | undefined;
  readonly after?: string | undefined;
  readonly limit: number;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

export function toDeliveryObject(row: WebhookDeliveryRow): WebhookDeliveryObject {
  return {
    id: row.id,
    object: "webhook_delivery",
    event_id: row.eventId,
    endpoint_id: row.endpointId,
    callback_subject_id: row.callbackSubjectId,
    url: row.url,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: row.status === "pending" ? seconds(row.nextAttemptAtMs) : null,
    created_at: seconds(row.createdAtMs),
    delivered_at: row.deliveredAtMs === null ? null : seconds(row.deliveredAtMs),
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
  };
}

function toAttemptObject(row: WebhookDeliveryAttemptRow): WebhookDeliveryAttemptObject {
  return {
    attempt: row.attempt,
    started_at: seconds(row.startedAtMs),
    latency_ms: row.latencyMs,
    status_code: row.statusCode,
    error: row.error,
  };
}

export function createDeliveryLog(store: WebhookDeliveryStore) {
  function require(projectId: string, id: string): WebhookDeliveryRow {
    const row = store.find(projectId, id);
    if (row === undefined) {
      throw ApiError.notFound(`No webhook delivery found with id '${id}'.`);
    }
    return row;
  }

  return {
    /** Newest first, one project's. */
    list(projectId: string, request: DeliveryListRequest): Page<WebhookDeliveryObject> {
      let after: WebhookDeliveryRow | undefined;
      if (request.after !== undefined) {
        after = store.find(projectId, request.after);
        if (after === undefined) {
          throw ApiError.invalid(
            "after",
            `No webhook delivery with id '${request.after}'; 'after' must be the id of one.`,
          );
        }
      }
      const rows = store.list(projectId, {
        endpointId: request.endpoint_id,
        status: request.status,
        after,
        limit: request.limit + 1,
      });
      return toPage(
        rows.slice(0, request.limit).map(toDeliveryObject),
        rows.length > request.limit,
      );
    },

    /** One delivery with every attempt, oldest first. */
    retrieve(projectId: string, id: string): WebhookDeliveryWithAttempts {
      const row = require(projectId, id);
      const { attempts, ...delivery } = toDeliveryObject(row);
      return {
        ...delivery,
        attempt_count: attempts,
        attempts: store.attemptsOf(row.id).map(toAttemptObject),
      };
    },
  };
}

export type DeliveryLog = ReturnType<typeof createDeliveryLog>;
