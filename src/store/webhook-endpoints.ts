import { and, desc, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { Db } from "./db.js";
import { type NewWebhookEndpointRow, type WebhookEndpointRow, webhookEndpoints } from "./schema.js";

/**
 * Queries on webhook_endpoints. Secrets arrive here sealed (webhooks/endpoints.ts): this store
 * never sees one in the clear. Low volume except `listEnabled`, which the delivery directory
 * reads into its cache.
 */
export interface WebhookEndpointStore {
  insert(row: NewWebhookEndpointRow): void;
  find(projectId: string, id: string): WebhookEndpointRow | undefined;
  /** Any project's: for the delivery lane, which holds only the id. */
  findById(id: string): WebhookEndpointRow | undefined;
  /** Newest first, starting after `after` (a row of the same project) when given. */
  list(
    projectId: string,
    query: { after?: WebhookEndpointRow; limit: number },
  ): WebhookEndpointRow[];
  /** Every endpoint ferry still sends to, of every project. */
  listEnabled(): WebhookEndpointRow[];
  /** The endpoints a config file made (source "config"), of every project. */
  listFromConfig(): WebhookEndpointRow[];
  /** Applies `patch` to the project's endpoint; the row afterwards, or undefined if none. */
  update(
    projectId: string,
    id: string,
    patch: Partial<Omit<WebhookEndpointRow, "id" | "projectId" | "createdAt">>,
  ): WebhookEndpointRow | undefined;
  /** Whether it deleted one. */
  delete(projectId: string, id: string): boolean;
  /**
   * Counts a delivery that ended: a delivered one resets the run of failures; a failed one
   * extends it (begun at `failingSinceSeconds` if none was running) and disables the endpoint
   * once the run is `disableAfterSeconds` old. Returns the row after a failure.
   */
  recordOutcome(input: {
    id: string;
    delivered: boolean;
    nowSeconds: number;
    failingSinceSeconds: number;
    disableAfterSeconds: number;
  }): WebhookEndpointRow | undefined;
}

export function createWebhookEndpointStore(db: Db): WebhookEndpointStore {
  const byId = db
    .select()
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.id, sql.placeholder("id")))
    .prepare();
  const enabled = db
    .select()
    .from(webhookEndpoints)
    .where(isNull(webhookEndpoints.disabledAt))
    .prepare();
  const sqlite = db.$client;
  const markDelivered = sqlite.prepare(
    `UPDATE webhook_endpoints
     SET consecutive_failures = 0, failing_since = NULL, last_delivered_at = @now
     WHERE id = @id AND (consecutive_failures <> 0 OR failing_since IS NOT NULL
                         OR last_delivered_at IS NULL OR last_delivered_at < @now)`,
  );
  // One statement, so two lanes counting at once cannot lose a failure. SET reads the old row.
  const markFailed = sqlite.prepare(
    `UPDATE webhook_endpoints
     SET consecutive_failures = consecutive_failures + 1,
         failing_since = coalesce(failing_since, @since),
         disabled_at = CASE WHEN disabled_at IS NULL AND @now - coalesce(failing_since, @since) >= @disableAfter
                            THEN @now ELSE disabled_at END,
         disabled_reason = CASE WHEN disabled_at IS NULL AND @now - coalesce(failing_since, @since) >= @disableAfter
                                THEN @reason ELSE disabled_reason END
     WHERE id = @id
     RETURNING *`,
  );
  return {
    insert(row) {
      db.insert(webhookEndpoints).values(row).run();
    },

    find(projectId, id) {
      const row = byId.get({ id });
      return row?.projectId === projectId ? row : undefined;
    },

    findById(id) {
      return byId.get({ id });
    },

    list(projectId, query) {
      const after = query.after;
      return db
        .select()
        .from(webhookEndpoints)
        .where(
          and(
            eq(webhookEndpoints.projectId, projectId),
            after === undefined
              ? undefined
              : or(
                  lt(webhookEndpoints.createdAt, after.createdAt),
                  and(
                    eq(webhookEndpoints.createdAt, after.createdAt),
                    lt(webhookEndpoints.id, after.id),
                  ),
                ),
          ),
        )
        .orderBy(desc(webhookEndpoints.createdAt), desc(webhookEndpoints.id))
        .limit(query.limit)
        .all();
    },

    listEnabled() {
      return enabled.all();
    },

    listFromConfig() {
      return db.select().from(webhookEndpoints).where(eq(webhookEndpoints.source, "config")).all();
    },

    update(projectId, id, patch) {
      return db
        .update(webhookEndpoints)
        .set(patch)
        .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.projectId, projectId)))
        .returning()
        .all()[0];
    },

    delete(projectId, id) {
      const result = db
        .delete(webhookEndpoints)
        .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.projectId, projectId)))
        .run();
      return result.changes > 0;
    },

    recordOutcome(input) {
      const params = {
        id: input.id,
        now: input.nowSeconds,
        since: input.failingSinceSeconds,
        disableAfter: input.disableAfterSeconds,
        reason: `every delivery failed for ${input.disableAfterSeconds} s`,
      };
      if (input.delivered) {
        // At most one write a second for an endpoint that keeps delivering: this runs for
        // every delivery, and the row only changes when a run of failures ends.
        markDelivered.run(params);
        return undefined;
      }
      return (markFailed.all(params) as Record<string, unknown>[]).map(fromSqlRow)[0];
    },
  };
}

/** A row as SQLite returns it (snake_case, JSON as text), in the schema's shape. */
function fromSqlRow(row: Record<string, unknown>): WebhookEndpointRow {
  return {
    id: row.id as string,
    projectId: row.project_id as string,
    name: row.name as string,
    url: row.url as string,
    eventTypes: JSON.parse(row.event_types as string) as string[],
    secretSealed: row.secret_sealed as string,
    secretHint: row.secret_hint as string,
    previousSecretSealed: row.previous_secret_sealed as string | null,
    previousSecretExpiresAt: row.previous_secret_expires_at as number | null,
    source: row.source as string,
    createdAt: row.created_at as number,
    updatedAt: row.updated_at as number,
    consecutiveFailures: row.consecutive_failures as number,
    failingSince: row.failing_since as number | null,
    lastDeliveredAt: row.last_delivered_at as number | null,
    disabledAt: row.disabled_at as number | null,
    disabledReason: row.disabled_reason as string | null,
  };
}
