import { eq } from "drizzle-orm";
import type { Db } from "./db.js";
import { type WorkItemRow, workItems } from "./schema.js";

/**
 * The durable work queue's operations, one SQL statement each (graphile-worker style). All times
 * are unix milliseconds. Only this file knows the queue's SQL; a Postgres store would swap it.
 *
 * Invariants:
 * - A row is `running` only while some executor holds its lease (lease_owner, lease_expires_at_ms).
 * - Only the lease owner may finish, retry or release a running row: every such statement is
 *   guarded by `lease_owner = ? AND status = 'running'`, so a result that arrives after the lease
 *   was lost (crash, expiry, cancel) changes nothing. That guard is what makes results
 *   exactly-once while backend calls are at-least-once.
 */

export type WorkStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface NewWork {
  readonly kind: string;
  readonly subjectId: string;
  readonly projectId: string;
  readonly lane: number;
  readonly ownerKey: string;
  readonly backend: string;
  readonly payload: Record<string, unknown>;
  readonly nowMs: number;
}

export interface ClaimedWork {
  readonly id: number;
  readonly kind: string;
  readonly subjectId: string;
  readonly projectId: string;
  readonly lane: number;
  readonly ownerKey: string;
  readonly backend: string;
  /** Counting this claim. */
  readonly attempts: number;
  readonly payload: Record<string, unknown>;
}

export interface ClaimRequest {
  readonly backend: string;
  readonly leaseOwner: string;
  readonly limit: number;
  readonly nowMs: number;
  readonly leaseMs: number;
  /** Per (backend, lane): the owner served last, so the next claim starts after it. */
  readonly lastOwnerByLane: Map<number, string>;
}

export interface WorkStore {
  enqueue(work: NewWork): number;
  /** Claims up to `limit` ready rows of one backend: highest-priority lane first, round-robin between owners. */
  claim(request: ClaimRequest): ClaimedWork[];
  /** Extends the leases of these rows, where this owner still holds them. */
  heartbeat(leaseOwner: string, ids: readonly number[], leaseExpiresAtMs: number): number;
  /**
   * Marks a running row finished, with its result (JSON) if it keeps one; false when the lease
   * was lost (then the result must be dropped).
   */
  finish(
    id: number,
    leaseOwner: string,
    status: "succeeded" | "failed",
    nowMs: number,
    error: string | null,
    result?: Record<string, unknown> | null,
  ): boolean;
  /** Puts a running row back in the queue to run again at `notBeforeMs` (a retry). */
  retryLater(id: number, leaseOwner: string, notBeforeMs: number, error: string): boolean;
  /** Gives back a running row untouched (clean shutdown): the attempt does not count. */
  release(id: number, leaseOwner: string): boolean;
  /** Re-queues running rows whose lease has expired (their executor died). Returns how many. */
  requeueExpired(nowMs: number): number;
  /** Cancels the queued or running row for a subject; returns the row id, or null if none was active. */
  cancelSubject(subjectId: string, nowMs: number): number | null;
  /** Rows waiting to run, per backend (for /health). */
  countQueuedByBackend(): Map<string, number>;
  find(id: number): WorkItemRow | undefined;
}

interface RawRow {
  id: number;
  kind: string;
  subject_id: string;
  project_id: string;
  lane: number;
  owner_key: string;
  backend: string;
  attempts: number;
  payload: string;
}

// Lanes are few and fixed; owners within a lane can be many (one per batch or project).
const MAX_OWNERS_PER_CLAIM = 64;

export function createWorkStore(db: Db): WorkStore {
  const sqlite = db.$client;

  const insert = sqlite.prepare(
    `INSERT INTO work_items (kind, subject_id, project_id, lane, owner_key, backend, status, payload, created_at_ms)
     VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)`,
  );

  // Loose index scans over work_items_claim (status, backend, lane, owner_key, id): the distinct
  // lanes, then the distinct owners of a lane, in a handful of index seeks each however many
  // rows are queued (a 50,000-line batch is one owner). A plain DISTINCT would walk every queued
  // row on every claim.
  const lanesWithWork = sqlite.prepare(
    `WITH RECURSIVE lanes(lane) AS (
       SELECT MIN(lane) FROM work_items WHERE status = 'queued' AND backend = @backend
       UNION ALL
       SELECT (SELECT MIN(lane) FROM work_items
               WHERE status = 'queued' AND backend = @backend AND lane > lanes.lane)
       FROM lanes WHERE lanes.lane IS NOT NULL
     )
     SELECT lane FROM lanes WHERE lane IS NOT NULL`,
  );

  const ownersInLane = sqlite.prepare(
    `WITH RECURSIVE owners(key) AS (
       SELECT MIN(owner_key) FROM work_items WHERE status = 'queued' AND backend = @backend AND lane = @lane
       UNION ALL
       SELECT (SELECT MIN(owner_key) FROM work_items
               WHERE status = 'queued' AND backend = @backend AND lane = @lane AND owner_key > owners.key)
       FROM owners WHERE owners.key IS NOT NULL
     )
     SELECT key FROM owners WHERE key IS NOT NULL LIMIT ${MAX_OWNERS_PER_CLAIM}`,
  );

  // One owner's share in one statement: its oldest ready rows, marked running under our lease.
  // The `status = 'queued'` in the subquery is what makes a row claimable once: the claim runs in
  // an IMMEDIATE transaction, so no other writer can claim it between the SELECT and the UPDATE.
  const claimOfOwner = sqlite.prepare(
    `UPDATE work_items
     SET status = 'running', lease_owner = @leaseOwner, lease_expires_at_ms = @leaseExpiresAtMs,
         attempts = attempts + 1
     WHERE id IN (
       SELECT id FROM work_items
       WHERE status = 'queued' AND backend = @backend AND lane = @lane AND owner_key = @owner
         AND not_before_ms <= @nowMs
       ORDER BY id LIMIT @limit)
     RETURNING id, kind, subject_id, project_id, lane, owner_key, backend, attempts, payload`,
  );

  // By id, not by owner alone: a row whose result could not be committed is no longer in the
  // owner's hands, and its lease must run out so that it is re-queued.
  const heartbeatStatement = sqlite.prepare(
    `UPDATE work_items SET lease_expires_at_ms = ?
     WHERE lease_owner = ? AND status = 'running' AND id IN (SELECT value FROM json_each(?))`,
  );

  const finishStatement = sqlite.prepare(
    `UPDATE work_items
     SET status = ?, finished_at_ms = ?, last_error = ?, result = ?, lease_owner = NULL,
         lease_expires_at_ms = NULL
     WHERE id = ? AND lease_owner = ? AND status = 'running'`,
  );

  const retryStatement = sqlite.prepare(
    `UPDATE work_items
     SET status = 'queued', not_before_ms = ?, last_error = ?, lease_owner = NULL, lease_expires_at_ms = NULL
     WHERE id = ? AND lease_owner = ? AND status = 'running'`,
  );

  const releaseStatement = sqlite.prepare(
    `UPDATE work_items
     SET status = 'queued', attempts = attempts - 1, lease_owner = NULL, lease_expires_at_ms = NULL
     WHERE id = ? AND lease_owner = ? AND status = 'running'`,
  );

  const requeueExpiredStatement = sqlite.prepare(
    `UPDATE work_items SET status = 'queued', lease_owner = NULL, lease_expires_at_ms = NULL
     WHERE status = 'running' AND lease_expires_at_ms < ?`,
  );

  const cancelStatement = sqlite.prepare(
    `UPDATE work_items
     SET status = 'cancelled', finished_at_ms = ?, lease_owner = NULL, lease_expires_at_ms = NULL
     WHERE subject_id = ? AND status IN ('queued', 'running')
     RETURNING id`,
  );

  const queuedByBackend = sqlite.prepare(
    `SELECT backend, COUNT(*) AS queued FROM work_items WHERE status = 'queued' GROUP BY backend`,
  );

  const claimTransaction = sqlite.transaction((request: ClaimRequest): ClaimedWork[] => {
    const { backend, leaseOwner, nowMs } = request;
    const leaseExpiresAtMs = nowMs + request.leaseMs;
    const claimed: ClaimedWork[] = [];
    const lanes = lanesWithWork.all({ backend }) as { lane: number }[];
    for (const { lane } of lanes) {
      if (claimed.length >= request.limit) {
        break;
      }
      const owners = rotateAfter(
        (ownersInLane.all({ backend, lane }) as { key: string }[]).map((row) => row.key),
        request.lastOwnerByLane.get(lane),
      );
      // Fill the remaining capacity in rounds, one share per owner per round, so that with more
      // owners than slots each claim serves the next owners in turn.
      const share = Math.max(
        1,
        Math.ceil((request.limit - claimed.length) / Math.max(owners.length, 1)),
      );
      for (const owner of owners) {
        const room = request.limit - claimed.length;
        if (room <= 0) {
          break;
        }
        const rows = claimOfOwner.all({
          leaseOwner,
          leaseExpiresAtMs,
          backend,
          lane,
          owner,
          nowMs,
          limit: Math.min(share, room),
        }) as RawRow[];
        if (rows.length > 0) {
          // RETURNING's order is unspecified: run each owner's rows oldest first.
          rows.sort((a, b) => a.id - b.id);
          for (const row of rows) {
            claimed.push(toClaimed(row));
          }
          request.lastOwnerByLane.set(lane, owner);
        }
      }
    }
    return claimed;
  });

  return {
    enqueue(work) {
      const result = insert.run(
        work.kind,
        work.subjectId,
        work.projectId,
        work.lane,
        work.ownerKey,
        work.backend,
        JSON.stringify(work.payload),
        work.nowMs,
      );
      return Number(result.lastInsertRowid);
    },
    claim(request) {
      return request.limit <= 0 ? [] : claimTransaction.immediate(request);
    },
    heartbeat(leaseOwner, ids, leaseExpiresAtMs) {
      return heartbeatStatement.run(leaseExpiresAtMs, leaseOwner, JSON.stringify(ids)).changes;
    },
    finish(id, leaseOwner, status, nowMs, error, result = null) {
      const resultText = result === null ? null : JSON.stringify(result);
      return finishStatement.run(status, nowMs, error, resultText, id, leaseOwner).changes === 1;
    },
    retryLater(id, leaseOwner, notBeforeMs, error) {
      return retryStatement.run(notBeforeMs, error, id, leaseOwner).changes === 1;
    },
    release(id, leaseOwner) {
      return releaseStatement.run(id, leaseOwner).changes === 1;
    },
    requeueExpired(nowMs) {
      return requeueExpiredStatement.run(nowMs).changes;
    },
    cancelSubject(subjectId, nowMs) {
      // all(), never get(): see "RETURNING" in db.ts.
      const rows = cancelStatement.all(nowMs, subjectId) as { id: number }[];
      return rows[0]?.id ?? null;
    },
    countQueuedByBackend() {
      const rows = queuedByBackend.all() as { backend: string; queued: number }[];
      return new Map(rows.map((row) => [row.backend, row.queued]));
    },
    find(id) {
      return db.select().from(workItems).where(eq(workItems.id, id)).get();
    },
  };
}

/** Owners in key order, starting just after `last` and wrapping around. */
function rotateAfter(owners: string[], last: string | undefined): string[] {
  if (last === undefined) {
    return owners;
  }
  const start = owners.findIndex((owner) => owner > last);
  return start <= 0 ? owners : [...owners.slice(start), ...owners.slice(0, start)];
}

function toClaimed(row: RawRow): ClaimedWork {
  return {
    id: row.id,
    kind: row.kind,
    subjectId: row.subject_id,
    projectId: row.project_id,
    lane: row.lane,
    ownerKey: row.owner_key,
    backend: row.backend,
    attempts: row.attempts,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
  };
}
