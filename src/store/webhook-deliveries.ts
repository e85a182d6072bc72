import type { Db } from "./db.js";
import type { WebhookDeliveryAttemptRow, WebhookDeliveryRow } from "./schema.js";

/**
 * Webhook events, their deliveries and every attempt (tables webhook_events, webhook_deliveries,
 * webhook_delivery_attempts). The outbox inserts (inside its caller's transaction); the delivery
 * lane claims due deliveries under a lease and records how their attempts went.
 *
 * Several processes may share the database, so a claim is one statement (no read-then-write
 * window between two lanes), and an outcome is written only while its lane still holds the
 * lease: a lane whose lease ran out (it stalled, or it was killed) cannot overwrite what the lane
 * that claimed the delivery after it recorded.
 */

export interface NewWebhookEvent {
  readonly id: string;
  readonly projectId: string;
  readonly type: string;
  readonly subjectId: string;
  readonly createdAt: number;
  readonly body: string;
}

export interface NewWebhookDelivery {
  readonly id: string;
  readonly eventId: string;
  readonly projectId: string;
  readonly endpointId: string | null;
  readonly callbackSubjectId: string | null;
  readonly url: string;
  /** null: the event's body. */
  readonly body: string | null;
  readonly nextAttemptAtMs: number;
  readonly giveUpAtMs: number;
  readonly createdAtMs: number;
}

/** A delivery the lane now holds, with the exact body to send. */
export interface ClaimedDelivery {
  readonly id: string;
  readonly eventId: string;
  readonly projectId: string;
  readonly endpointId: string | null;
  readonly callbackSubjectId: string | null;
  readonly url: string;
  readonly body: string;
  /** Attempts recorded before this one. */
  readonly attempts: number;
  readonly giveUpAtMs: number;
  readonly createdAtMs: number;
}

export interface AttemptRecord {
  readonly startedAtMs: number;
  readonly latencyMs: number;
  readonly statusCode: number | null;
  readonly error: string | null;
}

/** How a held delivery goes on, written with its attempt (if one was made). */
export type DeliveryOutcome =
  | { readonly kind: "delivered"; readonly atMs: number }
  | { readonly kind: "retry"; readonly nextAttemptAtMs: number }
  | { readonly kind: "failed" }
  | { readonly kind: "cancelled"; readonly reason: string }
  /** Not attempted after all (the lane is stopping): due again at once, to any lane. */
  | { readonly kind: "released" };

export interface OutcomeInput {
  readonly deliveryId: string;
  readonly leaseOwner: string;
  readonly attempt: AttemptRecord | null;
  readonly outcome: DeliveryOutcome;
}

export interface DeliveryListQuery {
  readonly endpointId?: string | undefined;
  readonly status?: string | undefined;
  /** A delivery id: the page starts after it (newest first). */
  readonly after?: WebhookDeliveryRow | undefined;
  readonly limit: number;
}

export interface WebhookDeliveryStore {
  /** Inside the caller's transaction: the event and its deliveries. */
  insertEvent(event: NewWebhookEvent, deliveries: readonly NewWebhookDelivery[]): void;
  /**
   * Claims up to `limit` due pending deliveries whose lease is free or ran out, for `owner`
   * until `leaseExpiresAtMs`. One statement: two lanes never claim the same row.
   */
  claimDue(
    owner: string,
    nowMs: number,
    leaseExpiresAtMs: number,
    limit: number,
  ): ClaimedDelivery[];
  /**
   * Extends `owner`'s leases on these deliveries (held while waiting for a free slot, or while a
   * slow attempt runs) to `leaseExpiresAtMs`. Returns how many it still held.
   */
  renewLeases(owner: string, ids: readonly string[], leaseExpiresAtMs: number): number;
  /**
   * Writes an outcome (and its attempt) if `leaseOwner` still holds the delivery. Returns
   * whether it did. Call inside a transaction when writing many (the lane's group commit).
   */
  recordOutcome(input: OutcomeInput): boolean;
  /** The earliest next_attempt_at_ms of a pending delivery (leased or not), or null. */
  earliestDueMs(): number | null;
  find(projectId: string, id: string): WebhookDeliveryRow | undefined;
  /** Newest first. */
  list(projectId: string, query: DeliveryListQuery): WebhookDeliveryRow[];
  /** Oldest first. */
  attemptsOf(deliveryId: string): WebhookDeliveryAttemptRow[];
}

const TERMINAL: Record<DeliveryOutcome["kind"], string> = {
  delivered: "delivered",
  retry: "pending",
  failed: "failed",
  cancelled: "cancelled",
  released: "pending",
};

export function createWebhookDeliveryStore(db: Db): WebhookDeliveryStore {
  const sqlite = db.$client;
  const insertEventStatement = sqlite.prepare(
    `INSERT INTO webhook_events (id, project_id, type, subject_id, created_at, body)
     VALUES (@id, @projectId, @type, @subjectId, @createdAt, @body)`,
  );
  const insertDeliveryStatement = sqlite.prepare(
    `INSERT INTO webhook_deliveries (id, event_id, project_id, endpoint_id, callback_subject_id,
       url, body, status, attempts, next_attempt_at_ms, give_up_at_ms, created_at_ms)
     VALUES (@id, @eventId, @projectId, @endpointId, @callbackSubjectId,
       @url, @body, 'pending', 0, @nextAttemptAtMs, @giveUpAtMs, @createdAtMs)`,
  );
  // Through webhook_deliveries_due (status, next_attempt_at_ms). The body to send is read in
  // the same statement: the delivery's own (a callback's) or else its event's.
  const claimStatement = sqlite.prepare(
    `UPDATE webhook_deliveries SET lease_owner = @owner, lease_expires_at_ms = @leaseUntil
     WHERE id IN (
       SELECT id FROM webhook_deliveries
       WHERE status = 'pending' AND next_attempt_at_ms <= @now
         AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms < @now)
       ORDER BY next_attempt_at_ms LIMIT @limit
     )
     RETURNING id, event_id AS eventId, project_id AS projectId, endpoint_id AS endpointId,
       callback_subject_id AS callbackSubjectId, url,
       COALESCE(body, (SELECT e.body FROM webhook_events e WHERE e.id = event_id)) AS body,
       attempts, give_up_at_ms AS giveUpAtMs, created_at_ms AS createdAtMs`,
  );
  const finishStatement = sqlite.prepare(
    `UPDATE webhook_deliveries SET
       status = @status,
       attempts = attempts + @attempted,
       next_attempt_at_ms = COALESCE(@nextAttemptAtMs, next_attempt_at_ms),
       lease_owner = NULL,
       lease_expires_at_ms = NULL,
       last_status_code = CASE WHEN @attempted = 1 THEN @statusCode ELSE last_status_code END,
       last_error = COALESCE(@error, CASE WHEN @attempted = 1 THEN NULL ELSE last_error END),
       delivered_at_ms = @deliveredAtMs
     WHERE id = @id AND lease_owner = @owner AND status = 'pending'
     RETURNING attempts`,
  );
  const insertAttemptStatement = sqlite.prepare(
    `INSERT INTO webhook_delivery_attempts
       (delivery_id, attempt, started_at_ms, latency_ms, status_code, error)
     VALUES (?, ?, ?, ?, ?, ?)`,
  );
  const renewStatement = sqlite.prepare(
    `UPDATE webhook_deliveries SET lease_expires_at_ms = ?
     WHERE id IN (SELECT value FROM json_each(?)) AND lease_owner = ? AND status = 'pending'`,
  );
  const earliestStatement = sqlite.prepare(
    `SELECT MIN(next_attempt_at_ms) AS dueMs FROM webhook_deliveries WHERE status = 'pending'`,
  );
  const findStatement = sqlite.prepare(
    `SELECT * FROM webhook_deliveries WHERE id = ? AND project_id = ?`,
  );
  // Through webhook_deliveries_project_created; the filters narrow what it walks.
  const listStatement = sqlite.prepare(
    `SELECT * FROM webhook_deliveries
     WHERE project_id = @projectId
       AND (@endpointId IS NULL OR endpoint_id = @endpointId)
       AND (@status IS NULL OR status = @status)
       AND (@afterMs IS NULL OR created_at_ms < @afterMs
            OR (created_at_ms = @afterMs AND id < @afterId))
     ORDER BY created_at_ms DESC, id DESC LIMIT @limit`,
  );
  const attemptsStatement = sqlite.prepare(
    `SELECT * FROM webhook_delivery_attempts WHERE delivery_id = ? ORDER BY attempt, id`,
  );

  return {
    insertEvent(event, deliveries) {
      insertEventStatement.run(event);
      for (const delivery of deliveries) {
        insertDeliveryStatement.run(delivery);
      }
    },

    claimDue(owner, nowMs, leaseExpiresAtMs, limit) {
      return claimStatement.all({
        owner,
        leaseUntil: leaseExpiresAtMs,
        now: nowMs,
        limit,
      }) as ClaimedDelivery[];
    },

    renewLeases(owner, ids, leaseExpiresAtMs) {
      if (ids.length === 0) {
        return 0;
      }
      return renewStatement.run(leaseExpiresAtMs, JSON.stringify(ids), owner).changes;
    },

    recordOutcome({ deliveryId, leaseOwner, attempt, outcome }) {
      const attempted = attempt === null ? 0 : 1;
      const rows = finishStatement.all({
        id: deliveryId,
        owner: leaseOwner,
        status: TERMINAL[outcome.kind],
        attempted,
        nextAttemptAtMs: outcome.kind === "retry" ? outcome.nextAttemptAtMs : null,
        statusCode: attempt?.statusCode ?? null,
        error: outcome.kind === "cancelled" ? outcome.reason : (attempt?.error ?? null),
        deliveredAtMs: outcome.kind === "delivered" ? outcome.atMs : null,
      }) as { attempts: number }[];
      const row = rows[0];
      if (row === undefined) {
        return false;
      }
      if (attempt !== null) {
        insertAttemptStatement.run(
          deliveryId,
          row.attempts,
          attempt.startedAtMs,
          attempt.latencyMs,
          attempt.statusCode,
          attempt.error,
        );
      }
      return true;
    },

    earliestDueMs() {
      return (earliestStatement.get() as { dueMs: number | null }).dueMs;
    },

    find(projectId, id) {
      const row = findStatement.get(id, projectId) as Record<string, unknown> | undefined;
      return row === undefined ? undefined : toDelivery(row);
    },

    list(projectId, query) {
      const rows = listStatement.all({
        projectId,
        endpointId: query.endpointId ?? null,
        status: query.status ?? null,
        afterMs: query.after?.createdAtMs ?? null,
        afterId: query.after?.id ?? null,
        limit: query.limit,
      }) as Record<string, unknown>[];
      return rows.map(toDelivery);
    },

    attemptsOf(deliveryId) {
      const rows = attemptsStatement.all(deliveryId) as Record<string, unknown>[];
      return rows.map((row) => ({
        id: row.id as number,
        deliveryId: row.delivery_id as string,
        attempt: row.attempt as number,
        startedAtMs: row.started_at_ms as number,
        latencyMs: row.latency_ms as number,
        statusCode: row.status_code as number | null,
        error: row.error as string | null,
      }));
    },
  };
}

function toDelivery(row: Record<string, unknown>): WebhookDeliveryRow {
  return {
    id: row.id as string,
    eventId: row.event_id as string,
    projectId: row.project_id as string,
    endpointId: row.endpoint_id as string | null,
    callbackSubjectId: row.callback_subject_id as string | null,
    url: row.url as string,
    body: row.body as string | null,
    status: row.status as string,
    attempts: row.attempts as number,
    nextAttemptAtMs: row.next_attempt_at_ms as number,
    giveUpAtMs: row.give_up_at_ms as number,
    leaseOwner: row.lease_owner as string | null,
    leaseExpiresAtMs: row.lease_expires_at_ms as number | null,
    lastStatusCode: row.last_status_code as number | null,
    lastError: row.last_error as string | null,
    createdAtMs: row.created_at_ms as number,
    deliveredAtMs: row.delivered_at_ms as number | null,
  };
}
