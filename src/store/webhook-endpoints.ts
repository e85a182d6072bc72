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
   * once the run is `disableAfterSeconds` old. Returns the row afterwards.
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
      const { id, nowSeconds } = input;
      if (input.delivered) {
        return db
          .update(webhookEndpoints)
          .set({ consecutiveFailures: 0, failingSince: null, lastDeliveredAt: nowSeconds })
          .where(eq(webhookEndpoints.id, id))
          .returning()
          .all()[0];
      }
      // One statement, so two lanes counting at once cannot lose a failure.
      const since = sql`coalesce(${webhookEndpoints.failingSince}, ${input.failingSinceSeconds})`;
      const due = sql`${webhookEndpoints.disabledAt} IS NULL AND ${nowSeconds} - ${since} >= ${input.disableAfterSeconds}`;
      return db
        .update(webhookEndpoints)
        .set({
          consecutiveFailures: sql`${webhookEndpoints.consecutiveFailures} + 1`,
          failingSince: since,
          disabledAt: sql`CASE WHEN ${due} THEN ${nowSeconds} ELSE ${webhookEndpoints.disabledAt} END`,
          disabledReason: sql`CASE WHEN ${due} THEN ${`every delivery failed for ${input.disableAfterSeconds} s`} ELSE ${webhookEndpoints.disabledReason} END`,
        })
        .where(eq(webhookEndpoints.id, id))
        .returning()
        .all()[0];
    },
  };
}
