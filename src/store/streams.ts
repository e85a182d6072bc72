import { and, desc, eq, lt, or, sql } from "drizzle-orm";
import type { Db } from "./db.js";
import { type StreamEventRow, type StreamRow, streams } from "./schema.js";

export type NewStreamRow = typeof streams.$inferInsert;

export interface NewStreamEvent {
  readonly streamId: string;
  readonly responseId: string;
  readonly customId: string | null;
  /** completed, incomplete, failed, cancelled or expired. */
  readonly status: string;
  readonly promptTokens: number | null;
  readonly completionTokens: number | null;
  readonly completedAt: number;
}

/** A page of events in the order it is returned, and whether more lie beyond it. */
export interface EventPage {
  readonly events: StreamEventRow[];
  readonly hasMore: boolean;
}

/**
 * Streams and their completion events. `recordEvent` runs inside the transaction that records
 * the item's outcome, so every terminal item has exactly one event and the counters always
 * equal a recount of the events.
 */
export interface StreamStore {
  insert(row: NewStreamRow): void;
  find(projectId: string, id: string): StreamRow | undefined;
  findById(id: string): StreamRow | undefined;
  list(projectId: string, after: StreamRow | null, limit: number): StreamRow[];
  /** open -> cancelled | archived (archived also from cancelled). */
  setStatus(id: string, status: "cancelled" | "archived", nowSeconds: number): boolean;
  countItem(id: string): void;
  /** Returns the new event's sequence number, or null if the response already had one. */
  recordEvent(event: NewStreamEvent): number | null;
  /** Newest first: the latest `limit` events (no cursor). */
  latest(streamId: string, limit: number): EventPage;
  /** Oldest first: the events after `seq`. */
  after(streamId: string, seq: number, limit: number): EventPage;
  /** Newest first: the events before `seq`. */
  before(streamId: string, seq: number, limit: number): EventPage;
  /** Items waiting and running, counted from the queue (exact at any moment). */
  countActive(streamId: string): { pending: number; running: number };
}

export function createStreamStore(db: Db): StreamStore {
  const sqlite = db.$client;
  const insertEvent = sqlite.prepare(
    `INSERT INTO stream_events (stream_id, response_id, custom_id, status, prompt_tokens, completion_tokens, completed_at)
     VALUES (@streamId, @responseId, @customId, @status, @promptTokens, @completionTokens, @completedAt)
     ON CONFLICT (response_id) DO NOTHING`,
  );
  const bumpCounters = sqlite.prepare(
    `UPDATE streams SET
       completed_items = completed_items + @completed,
       failed_items = failed_items + @failed,
       cancelled_items = cancelled_items + @cancelled,
       prompt_tokens = prompt_tokens + @promptTokens,
       completion_tokens = completion_tokens + @completionTokens,
       last_completion_at = @completedAt,
       latest_completion_seq = @seq,
       updated_at = @completedAt
     WHERE id = @streamId`,
  );
  const countActiveStatement = sqlite.prepare(
    `SELECT
       COALESCE(SUM(status = 'queued'), 0) AS pending,
       COALESCE(SUM(status = 'in_progress'), 0) AS running
     FROM responses WHERE stream_id = ? AND status IN ('queued', 'in_progress')`,
  );
  const pageAfter = sqlite.prepare(
    `SELECT * FROM stream_events WHERE stream_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?`,
  );
  const pageBefore = sqlite.prepare(
    `SELECT * FROM stream_events WHERE stream_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
  );
  const pageLatest = sqlite.prepare(
    `SELECT * FROM stream_events WHERE stream_id = ? ORDER BY seq DESC LIMIT ?`,
  );

  const toEvent = (row: Record<string, unknown>): StreamEventRow => ({
    seq: row.seq as number,
    streamId: row.stream_id as string,
    responseId: row.response_id as string,
    customId: row.custom_id as string | null,
    status: row.status as string,
    promptTokens: row.prompt_tokens as number | null,
    completionTokens: row.completion_tokens as number | null,
    completedAt: row.completed_at as number,
  });
  // One row more than asked tells whether another page exists.
  const page = (rows: unknown[], limit: number): EventPage => ({
    events: rows.slice(0, limit).map((row) => toEvent(row as Record<string, unknown>)),
    hasMore: rows.length > limit,
  });

  return {
    insert(row) {
      db.insert(streams).values(row).run();
    },
    find(projectId, id) {
      return db
        .select()
        .from(streams)
        .where(and(eq(streams.id, id), eq(streams.projectId, projectId)))
        .get();
    },
    findById(id) {
      return db.select().from(streams).where(eq(streams.id, id)).get();
    },
    list(projectId, after, limit) {
      const cursor =
        after === null
          ? undefined
          : or(
              lt(streams.createdAt, after.createdAt),
              and(eq(streams.createdAt, after.createdAt), lt(streams.id, after.id)),
            );
      return db
        .select()
        .from(streams)
        .where(and(eq(streams.projectId, projectId), cursor))
        .orderBy(desc(streams.createdAt), desc(streams.id))
        .limit(limit)
        .all();
    },
    setStatus(id, status, nowSeconds) {
      const from = status === "cancelled" ? ["open"] : ["open", "cancelled"];
      const at = status === "cancelled" ? { cancelledAt: nowSeconds } : { archivedAt: nowSeconds };
      const result = db
        .update(streams)
        .set({ status, updatedAt: nowSeconds, ...at })
        .where(
          and(
            eq(streams.id, id),
            sql`${streams.status} IN (${sql.join(
              from.map((value) => sql`${value}`),
              sql`, `,
            )})`,
          ),
        )
        .run();
      return result.changes > 0;
    },
    countItem(id) {
      db.update(streams)
        .set({ totalItems: sql`${streams.totalItems} + 1` })
        .where(eq(streams.id, id))
        .run();
    },
    recordEvent(event) {
      const result = insertEvent.run({ ...event });
      if (result.changes === 0) {
        return null;
      }
      const seq = Number(result.lastInsertRowid);
      bumpCounters.run({
        streamId: event.streamId,
        completed: event.status === "completed" || event.status === "incomplete" ? 1 : 0,
        failed: event.status === "failed" || event.status === "expired" ? 1 : 0,
        cancelled: event.status === "cancelled" ? 1 : 0,
        promptTokens: event.promptTokens ?? 0,
        completionTokens: event.completionTokens ?? 0,
        completedAt: event.completedAt,
        seq,
      });
      return seq;
    },
    latest: (streamId, limit) => page(pageLatest.all(streamId, limit + 1), limit),
    after: (streamId, seq, limit) => page(pageAfter.all(streamId, seq, limit + 1), limit),
    before: (streamId, seq, limit) => page(pageBefore.all(streamId, seq, limit + 1), limit),
    countActive(streamId) {
      const row = countActiveStatement.get(streamId) as { pending: number; running: number };
      return { pending: row.pending, running: row.running };
    },
  };
}
