import type { WebhookEventType } from "./event-types.js";

/**
 * The outbox: where a state change that someone is told about (a background response or batch
 * ending, a stream item finishing) writes its event, in the same transaction as the change, so
 * no kill -9 can separate the two. The delivery lane (delivery-lane.ts) sends what it wrote.
 */
export interface OutboxEvent {
  readonly projectId: string;
  readonly type: WebhookEventType;
  /** The object the event is about; `data.id` on the wire. */
  readonly subjectId: string;
  /** Unix seconds: `created_at` on the wire. */
  readonly createdAt: number;
  /** More of `data` than its id (ferry's stream events name the item and its status). */
  readonly data?: Readonly<Record<string, unknown>>;
  /**
   * The finished object (Response, Batch), for the subject's per-request callback: called only
   * when the subject has one, inside the same transaction.
   */
  readonly object?: () => unknown;
}

export interface Outbox {
  /**
   * Inside the caller's transaction: writes the event and one delivery per destination (every
   * enabled endpoint of the project subscribed to the type, and the subject's callback). Writes
   * nothing when there is no destination. Returns whether it wrote.
   */
  record(event: OutboxEvent): boolean;
  /** After that transaction committed: the delivery lane looks for work at once. */
  notify(): void;
}

/** An endpoint an event goes to, as the outbox needs it. */
export interface EndpointTarget {
  readonly id: string;
  readonly url: string;
}

/** What a delivery to an endpoint is signed with: the current secret, and an old one still valid. */
export interface EndpointSecrets {
  readonly secrets: readonly string[];
}

/** A per-request callback's destination and credentials, opened from their sealed form. */
export interface CallbackTarget {
  readonly url: string;
  readonly auth:
    | { readonly kind: "basic"; readonly username: string; readonly password: string }
    | { readonly kind: "mtls"; readonly cert: string; readonly key: string; readonly ca?: string }
    | null;
  /** Signs the delivery when given (Standard Webhooks, as endpoints are). */
  readonly secret: string | null;
}

/**
 * What the outbox and the delivery lane read about destinations. Implemented over the endpoint
 * and callback stores (webhooks/endpoints.ts, webhooks/callbacks.ts), which own those tables.
 */
export interface DeliveryDirectory {
  /** Enabled endpoints of `projectId` subscribed to `type`. On the hot path: cached briefly. */
  endpointsFor(projectId: string, type: WebhookEventType): readonly EndpointTarget[];
  /** The signing secrets of an endpoint now, or null if it was deleted or disabled. */
  endpointSecrets(endpointId: string, nowSeconds: number): EndpointSecrets | null;
  /** Whether `subjectId` has a callback (cheap: called for every event). */
  hasCallback(subjectId: string): boolean;
  /** A subject's callback with its credentials, or null. */
  callbackOf(subjectId: string): CallbackTarget | null;
  /**
   * Tells the endpoint's failure bookkeeping how a delivery ended (see endpoints.ts). A failed
   * delivery has been failing since it was made (`failingSinceSeconds`).
   */
  recordEndpointOutcome(
    endpointId: string,
    delivered: boolean,
    nowSeconds: number,
    failingSinceSeconds: number,
  ): void;
}
