import { sql } from "drizzle-orm";
import {
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

/**
 * The drizzle schema is the one source of truth for tables; `npm run db:generate` derives the
 * SQL migrations from it. Columns are snake_case; JSON columns hold wire-shaped objects.
 * Timestamps ending in `_at` are unix seconds (OpenAI's wire unit).
 */

export const responses = sqliteTable(
  "responses",
  {
    id: text("id").primaryKey(),
    /** The tenant. A single "default" project until API keys arrive. */
    projectId: text("project_id").notNull(),
    status: text("status").notNull(),
    model: text("model").notNull(),
    createdAt: integer("created_at").notNull(),
    completedAt: integer("completed_at"),
    background: integer("background", { mode: "boolean" }).notNull().default(false),
    /** The stream a deferred response belongs to (metadata.stream_id), if any. */
    streamId: text("stream_id"),
    /** A deferred response not finished by then (unix seconds) ends expired. */
    expiresAt: integer("expires_at"),
    /** A background response created with stream=true: its events are kept for resuming. */
    streamed: integer("streamed", { mode: "boolean" }).notNull().default(false),
    previousResponseId: text("previous_response_id"),
    /** The request parameters echoed on the Response object (instructions, temperature, tools, …). */
    params: text("params", { mode: "json" }).notNull().$type<Record<string, unknown>>(),
    metadata: text("metadata", { mode: "json" }).notNull().$type<Record<string, string>>(),
    /** Input items with their ids, as `GET /v1/responses/{id}/input_items` lists them. */
    inputItems: text("input_items", { mode: "json" }).notNull().$type<unknown[]>(),
    output: text("output", { mode: "json" }).notNull().$type<unknown[]>(),
    usage: text("usage", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error", { mode: "json" }).$type<{ code: string; message: string }>(),
    incompleteDetails: text("incomplete_details", { mode: "json" }).$type<{ reason: string }>(),
  },
  (table) => [
    // Listing and retention go by project and time; ties within a second by rowid (insertion
    // order), which every index entry holds anyway. Leaving the 53-character id out makes the
    // entries a third of the size, and this index is written by every stored response.
    index("responses_project_time").on(table.projectId, table.createdAt),
    // Partial: only stream items and deferred responses carry these columns, and a sync
    // response (the hot insert path) then pays for none of these indexes.
    index("responses_stream_time")
      .on(table.streamId, table.createdAt)
      .where(sql`${table.streamId} IS NOT NULL`),
    index("responses_stream_status")
      .on(table.streamId, table.status)
      .where(sql`${table.streamId} IS NOT NULL`),
    index("responses_active_expiry")
      .on(table.status, table.expiresAt)
      .where(sql`${table.expiresAt} IS NOT NULL`),
  ],
);

export type ResponseRow = typeof responses.$inferSelect;
export type NewResponseRow = typeof responses.$inferInsert;

/**
 * The durable queue: one row per unit of inference work (a background response, a stream
 * response, a batch line). See executor/ for the state machine:
 *   queued -> running (claimed, leased) -> succeeded | failed
 *   queued | running -> cancelled;  running -> queued (retry with not_before, or lease expired)
 * Times ending in `_ms` are unix milliseconds: leases and backoff need better than seconds.
 */
export const workItems = sqliteTable(
  "work_items",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** Which handler runs it: "response", later "batch_line". */
    kind: text("kind").notNull(),
    /** The object it produces a result for, e.g. a response id. */
    subjectId: text("subject_id").notNull(),
    projectId: text("project_id").notNull(),
    /** Priority: lower runs first (0 background responses, 1 stream responses, 2 batch lines). */
    lane: integer("lane").notNull(),
    /** Round-robin key within a lane (a project, a batch, a stream), so no one owner starves the rest. */
    ownerKey: text("owner_key").notNull(),
    /** The backend (by name) that will run it; claims are per backend, within its concurrency. */
    backend: text("backend").notNull(),
    status: text("status").notNull(),
    attempts: integer("attempts").notNull().default(0),
    notBeforeMs: integer("not_before_ms").notNull().default(0),
    leaseOwner: text("lease_owner"),
    leaseExpiresAtMs: integer("lease_expires_at_ms"),
    /** Handler input (JSON): what to send to the backend. */
    payload: text("payload", { mode: "json" }).notNull().$type<Record<string, unknown>>(),
    /**
     * Order within the owner: the claim serves an owner's ready rows by (dispatch_rank, id). 0
     * for all but batch lines, whose rank groups lines sharing a prompt prefix (see
     * services/prompt-prefix.ts); all 0 (input order) with batches.prefix_scheduling off.
     */
    dispatchRank: integer("dispatch_rank").notNull().default(0),
    /** A key unique within the subject: a batch line's custom_id. */
    itemKey: text("item_key"),
    /** The handler's result (JSON): a batch line's output line. */
    result: text("result", { mode: "json" }).$type<Record<string, unknown>>(),
    lastError: text("last_error"),
    createdAtMs: integer("created_at_ms").notNull(),
    finishedAtMs: integer("finished_at_ms"),
  },
  (table) => [
    // The claim's loose index scans: lanes, then projects in a lane, then owners (batches,
    // streams) of a project, each in a few seeks however many rows are queued; then an owner's
    // next rows in dispatch order, a range scan that stops at its LIMIT (no sort).
    index("work_items_claim_by_project").on(
      table.status,
      table.backend,
      table.lane,
      table.projectId,
      table.ownerKey,
      table.dispatchRank,
      table.id,
    ),
    index("work_items_lease").on(table.status, table.leaseExpiresAtMs),
    index("work_items_subject").on(table.subjectId, table.status),
    // A subject's rows in id (= input line) order: pages a batch's lines without sorting them.
    index("work_items_subject_order").on(table.subjectId, table.id),
    uniqueIndex("work_items_item_key").on(table.subjectId, table.itemKey),
  ],
);

export type WorkItemRow = typeof workItems.$inferSelect;
export type NewWorkItemRow = typeof workItems.$inferInsert;

/**
 * The SSE events of background responses created with stream=true, so that
 * `GET /v1/responses/{id}?stream=true&starting_after=N` can replay them.
 */
export const responseEvents = sqliteTable(
  "response_events",
  {
    responseId: text("response_id")
      .notNull()
      .references(() => responses.id, { onDelete: "cascade" }),
    sequenceNumber: integer("sequence_number").notNull(),
    event: text("event", { mode: "json" }).notNull().$type<Record<string, unknown>>(),
  },
  (table) => [primaryKey({ columns: [table.responseId, table.sequenceNumber] })],
);

/**
 * Uploaded and generated files: metadata here, bytes on disk under `<data dir>/files/<id>`
 * (written to a temporary name and renamed into place before the row is inserted, so a row
 * always has its whole file).
 */
export const files = sqliteTable(
  "files",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    filename: text("filename").notNull(),
    purpose: text("purpose").notNull(),
    bytes: integer("bytes").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at"),
    /** Path of the bytes, relative to the data dir. */
    storagePath: text("storage_path").notNull(),
  },
  (table) => [index("files_project_created").on(table.projectId, table.createdAt, table.id)],
);

export type FileRow = typeof files.$inferSelect;

/**
 * Batches. The lines are work_items (kind "batch_line", subject_id = batch id); their results
 * live on those rows, and the counters here move in the same transaction as each result.
 */
export const batches = sqliteTable(
  "batches",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    status: text("status").notNull(),
    endpoint: text("endpoint").notNull(),
    inputFileId: text("input_file_id").notNull(),
    completionWindow: text("completion_window").notNull(),
    model: text("model"),
    metadata: text("metadata", { mode: "json" }).$type<Record<string, string>>(),
    errors: text("errors", { mode: "json" }).$type<
      { code: string; message: string; param: string | null; line: number | null }[]
    >(),
    outputFileId: text("output_file_id"),
    errorFileId: text("error_file_id"),
    outputExpiresAfterSeconds: integer("output_expires_after_seconds"),
    totalCount: integer("total_count").notNull().default(0),
    completedCount: integer("completed_count").notNull().default(0),
    failedCount: integer("failed_count").notNull().default(0),
    inputTokens: integer("input_tokens").notNull().default(0),
    cachedTokens: integer("cached_tokens").notNull().default(0),
    outputTokens: integer("output_tokens").notNull().default(0),
    reasoningTokens: integer("reasoning_tokens").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    /** When the window ends (unix seconds); `expires_at` on the wire. */
    expiresAt: integer("expires_at").notNull(),
    inProgressAt: integer("in_progress_at"),
    finalizingAt: integer("finalizing_at"),
    completedAt: integer("completed_at"),
    failedAt: integer("failed_at"),
    expiredAt: integer("expired_at"),
    cancellingAt: integer("cancelling_at"),
    cancelledAt: integer("cancelled_at"),
  },
  (table) => [
    index("batches_project_created").on(table.projectId, table.createdAt, table.id),
    index("batches_status").on(table.status),
  ],
);

export type BatchRow = typeof batches.$inferSelect;

/**
 * Streams: named groups of deferred responses whose completions are tailed as events. The
 * finished-item counters move in the same transaction as each completion event; pending and
 * running are counted from the queue when asked.
 */
export const streams = sqliteTable(
  "streams",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    name: text("name").notNull(),
    window: text("window").notNull(),
    status: text("status").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    cancelledAt: integer("cancelled_at"),
    archivedAt: integer("archived_at"),
    totalItems: integer("total_items").notNull().default(0),
    completedItems: integer("completed_items").notNull().default(0),
    failedItems: integer("failed_items").notNull().default(0),
    cancelledItems: integer("cancelled_items").notNull().default(0),
    promptTokens: integer("prompt_tokens").notNull().default(0),
    completionTokens: integer("completion_tokens").notNull().default(0),
    lastCompletionAt: integer("last_completion_at"),
    latestCompletionSeq: integer("latest_completion_seq"),
  },
  (table) => [index("streams_project_created").on(table.projectId, table.createdAt, table.id)],
);

export type StreamRow = typeof streams.$inferSelect;

/**
 * One row per stream item that reached a terminal state, in completion order. `seq` is global
 * and only grows, so a completion id (`cmpl_` + seq) is stable and sortable across restarts,
 * and every cursor query is a range scan of (stream_id, seq).
 */
export const streamEvents = sqliteTable(
  "stream_events",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    streamId: text("stream_id").notNull(),
    responseId: text("response_id").notNull(),
    customId: text("custom_id"),
    status: text("status").notNull(),
    promptTokens: integer("prompt_tokens"),
    completionTokens: integer("completion_tokens"),
    completedAt: integer("completed_at").notNull(),
  },
  (table) => [
    index("stream_events_stream_seq").on(table.streamId, table.seq),
    uniqueIndex("stream_events_response").on(table.responseId),
  ],
);

export type StreamEventRow = typeof streamEvents.$inferSelect;

/**
 * API keys, stored as the SHA-256 of the whole key: the key itself is shown once at creation
 * and never stored. `key_prefix` (`sk-ferry-abcd`) is for display only. A revoked key keeps its
 * row (for `ferry keys list`) and never authenticates again.
 */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    name: text("name"),
    scopes: text("scopes", { mode: "json" }).$type<string[]>().notNull(),
    keyHash: text("key_hash").notNull(),
    keyPrefix: text("key_prefix").notNull(),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at"),
    revokedAt: integer("revoked_at"),
  },
  (table) => [
    uniqueIndex("api_keys_key_hash").on(table.keyHash),
    index("api_keys_project_created").on(table.projectId, table.createdAt),
  ],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;

/**
 * Webhook endpoints (`/v1/webhook_endpoints`, `ferry webhooks`, or the config file), per project.
 * The signing secret is needed in the clear to sign, so it is stored sealed with the secrets key
 * (webhooks/secret-box.ts), which lives outside the database: a copy of ferry.db alone does not
 * let anyone sign a delivery. After a rotation that keeps the old secret, both sign until
 * `previous_secret_expires_at`.
 */
export const webhookEndpoints = sqliteTable(
  "webhook_endpoints",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    name: text("name").notNull(),
    url: text("url").notNull(),
    eventTypes: text("event_types", { mode: "json" }).notNull().$type<string[]>(),
    secretSealed: text("secret_sealed").notNull(),
    /** The masked secret shown in listings (`whsec_abcd…wxyz`). */
    secretHint: text("secret_hint").notNull(),
    previousSecretSealed: text("previous_secret_sealed"),
    previousSecretExpiresAt: integer("previous_secret_expires_at"),
    /** "api" (created by a client or the CLI) or "config" (bootstrapped from the config file). */
    source: text("source").notNull().default("api"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    /** Deliveries that ended failed in a row; reset by a delivered one. */
    consecutiveFailures: integer("consecutive_failures").notNull().default(0),
    /** When the current run of failures began (unix seconds); null while it delivers. */
    failingSince: integer("failing_since"),
    lastDeliveredAt: integer("last_delivered_at"),
    /** Set when ferry stopped sending to it (it kept failing); new events skip it. */
    disabledAt: integer("disabled_at"),
    disabledReason: text("disabled_reason"),
  },
  (table) => [index("webhook_endpoints_project_created").on(table.projectId, table.createdAt)],
);

export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;
export type NewWebhookEndpointRow = typeof webhookEndpoints.$inferInsert;

/**
 * Events, in OpenAI's shape: `body` is the exact JSON every endpoint delivery sends. Written in
 * the same transaction as the state change that causes it (the outbox), with its deliveries.
 */
export const webhookEvents = sqliteTable(
  "webhook_events",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    type: text("type").notNull(),
    /** The object the event is about (a response, batch or stream id). */
    subjectId: text("subject_id").notNull(),
    createdAt: integer("created_at").notNull(),
    body: text("body").notNull(),
  },
  (table) => [
    index("webhook_events_project_created").on(table.projectId, table.createdAt),
    index("webhook_events_subject").on(table.subjectId),
  ],
);

export type WebhookEventRow = typeof webhookEvents.$inferSelect;

/**
 * One row per event and destination: an endpoint subscribed to the event's type, or the
 * per-request callback of its subject. `id` is the `webhook-id` header, the same on every
 * attempt, so a receiver can drop duplicates. States:
 *   pending (next_attempt_at_ms; leased while an attempt runs) -> delivered | failed (gave up)
 *   pending -> cancelled (its endpoint was deleted)
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    eventId: text("event_id").notNull(),
    projectId: text("project_id").notNull(),
    /** The endpoint it goes to; null for a per-request callback. */
    endpointId: text("endpoint_id"),
    /** The subject whose callback it goes to (request_callbacks.subject_id); null for an endpoint. */
    callbackSubjectId: text("callback_subject_id"),
    url: text("url").notNull(),
    /** What a callback sends (the finished object); null: the event's body. */
    body: text("body"),
    status: text("status").notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAtMs: integer("next_attempt_at_ms").notNull(),
    /** Past this, a failed attempt is the last: the delivery ends failed. */
    giveUpAtMs: integer("give_up_at_ms").notNull(),
    leaseOwner: text("lease_owner"),
    leaseExpiresAtMs: integer("lease_expires_at_ms"),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    createdAtMs: integer("created_at_ms").notNull(),
    deliveredAtMs: integer("delivered_at_ms"),
  },
  (table) => [
    // The delivery lane's claim: due pending rows in time order.
    index("webhook_deliveries_due").on(table.status, table.nextAttemptAtMs),
    index("webhook_deliveries_endpoint").on(table.endpointId, table.createdAtMs),
    index("webhook_deliveries_event").on(table.eventId),
    index("webhook_deliveries_project_created").on(table.projectId, table.createdAtMs),
  ],
);

export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
export type NewWebhookDeliveryRow = typeof webhookDeliveries.$inferInsert;

/** Every attempt of every delivery: what the receiver answered, how fast, or why it failed. */
export const webhookDeliveryAttempts = sqliteTable(
  "webhook_delivery_attempts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    deliveryId: text("delivery_id").notNull(),
    attempt: integer("attempt").notNull(),
    startedAtMs: integer("started_at_ms").notNull(),
    latencyMs: integer("latency_ms").notNull(),
    /** The receiver's HTTP status; null when no answer came (refused, timed out, blocked). */
    statusCode: integer("status_code"),
    error: text("error"),
  },
  (table) => [index("webhook_delivery_attempts_delivery").on(table.deliveryId, table.attempt)],
);

export type WebhookDeliveryAttemptRow = typeof webhookDeliveryAttempts.$inferSelect;

/**
 * A per-request callback (the Scale Launch model: `callback_url` and `callback_auth` on a
 * background response or a batch). The auth (basic username and password, or an mTLS client
 * certificate and key) and an optional signing secret are stored sealed, like endpoint secrets.
 */
export const requestCallbacks = sqliteTable(
  "request_callbacks",
  {
    subjectId: text("subject_id").primaryKey(),
    projectId: text("project_id").notNull(),
    url: text("url").notNull(),
    /** "basic", "mtls" or null (none). */
    authKind: text("auth_kind"),
    authSealed: text("auth_sealed"),
    secretSealed: text("secret_sealed"),
    createdAt: integer("created_at").notNull(),
  },
  (table) => [index("request_callbacks_project_created").on(table.projectId, table.createdAt)],
);

export type RequestCallbackRow = typeof requestCallbacks.$inferSelect;

/**
 * OctoAI-style futures (`X-OctoAI-Async: 1` on an inference POST): the request as its endpoint's
 * schema parsed it, and once it ran, the HTTP answer the synchronous call would have given
 * (status code and JSON body text). Its work item (kind "future", subject_id = future id) is
 * inserted in the same transaction as the row, and the answer is written in the executor's
 * results transaction. Deleted at expires_at (24 h after creation) once finished.
 */
export const futures = sqliteTable(
  "futures",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    /** The endpoint it was posted to, e.g. "/v1/chat/completions". */
    endpoint: text("endpoint").notNull(),
    /** pending | running | completed | failed */
    status: text("status").notNull(),
    request: text("request", { mode: "json" }).notNull().$type<Record<string, unknown>>(),
    /** The answer's HTTP status: 200 when completed, the error's status when failed. */
    resultStatusCode: integer("result_status_code"),
    /** The answer's JSON body, as text (an embeddings answer can be large). */
    resultBody: text("result_body"),
    /** OpenAI's error object `{message, type, param, code}` of a failed future. */
    error: text("error", { mode: "json" }).$type<Record<string, unknown>>(),
    createdAt: integer("created_at").notNull(),
    completedAt: integer("completed_at"),
    expiresAt: integer("expires_at").notNull(),
  },
  (table) => [index("futures_expires_at").on(table.expiresAt)],
);

export type FutureRow = typeof futures.$inferSelect;
