import type { Clock } from "../lib/clock.js";
import { newId } from "../lib/ids.js";
import type { NewWebhookDelivery, WebhookDeliveryStore } from "../store/webhook-deliveries.js";
import type { DeliveryDirectory, Outbox, OutboxEvent } from "./outbox.js";

export interface OutboxDeps {
  readonly store: WebhookDeliveryStore;
  readonly directory: DeliveryDirectory;
  readonly clock: Clock;
  /** How long a delivery is retried before it ends failed (config.webhooks.retryForMs). */
  readonly retryForMs: number;
  /** Called by notify(): wakes the delivery lane. */
  readonly onNotify: () => void;
}

/**
 * The outbox over the delivery store. `record` runs inside the transaction of every background
 * response's and batch's end, so its common case (no endpoint subscribed, no callback) is two
 * in-memory look-ups and no write at all.
 */
export function createOutbox(deps: OutboxDeps): Outbox {
  const { store, directory, clock, retryForMs, onNotify } = deps;
  return {
    record(event: OutboxEvent): boolean {
      const endpoints = directory.endpointsFor(event.projectId, event.type);
      const hasCallback = directory.hasCallback(event.subjectId);
      if (endpoints.length === 0 && !hasCallback) {
        return false;
      }
      const eventId = newId("event");
      // OpenAI's event shape, built once: every endpoint delivery sends exactly these bytes.
      const body = JSON.stringify({
        id: eventId,
        object: "event",
        created_at: event.createdAt,
        type: event.type,
        data: { id: event.subjectId, ...event.data },
      });
      const nowMs = clock.nowMs();
      const shared = {
        eventId,
        projectId: event.projectId,
        nextAttemptAtMs: nowMs,
        giveUpAtMs: nowMs + retryForMs,
        createdAtMs: nowMs,
      };
      const deliveries: NewWebhookDelivery[] = endpoints.map((endpoint) => ({
        ...shared,
        id: newId("webhookDelivery"),
        endpointId: endpoint.id,
        callbackSubjectId: null,
        url: endpoint.url,
        body: null,
      }));
      if (hasCallback) {
        const target = directory.callbackOf(event.subjectId);
        if (target !== null) {
          // A callback receives the finished object itself; without one, the event.
          const object = event.object?.();
          deliveries.push({
            ...shared,
            id: newId("webhookDelivery"),
            endpointId: null,
            callbackSubjectId: event.subjectId,
            url: target.url,
            body: object === undefined ? null : JSON.stringify(object),
          });
        }
      }
      if (deliveries.length === 0) {
        return false;
      }
      store.insertEvent(
        {
          id: eventId,
          projectId: event.projectId,
          type: event.type,
          subjectId: event.subjectId,
          createdAt: event.createdAt,
          body,
        },
        deliveries,
      );
      return true;
    },
    notify() {
      onNotify();
    },
  };
}
