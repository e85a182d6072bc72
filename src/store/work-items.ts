import type { Statement } from "better-sqlite3";
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
  /** Splits the claim's slots between the lanes that have queued work (the executor's policy). */
  readonly lanes: LaneShares;
  /** This backend's round-robin memory, kept by the caller from one claim to the next. */
  readonly rotation: ClaimRotation;
  /**
   * At most this many rows of `lane` in this claim (the executor keeps batch lanes within the
   * backend's limit less its interactive reserve); unset: `limit` bounds every lane.
   */
  readonly laneLimit?: (lane: number) => number;
}

/** How a claim's slots are split between lanes; the store only asks and reports. */
export interface LaneShares {
  /**
   * How many of `slots` each lane gets (the shares sum to `slots`). `lanes` have queued work, in
   * priority order (lowest number first).
   */
  share(lanes: readonly number[], slots: number): ReadonlyMap<number, number>;
  /** `lane` claimed fewer rows than its share (it had no more ready rows, or no more room). */
  shortfall(lane: number, unused: number): void;
}

/** Who was served last: per lane, the project; per (lane, project), the owner (a batch, a stream). */
export interface ClaimRotation {
  readonly lastProjectByLane: Map<number, string>;
  readonly lastOwnerByProject: Map<string, string>;
}

export function createClaimRotation(): ClaimRotation {
  return { lastProjectByLane: new Map(), lastOwnerByProject: new Map() };
}

export interface WorkStore {
  enqueue(work: NewWork): number;
  /**
   * Claims up to `limit` ready rows of one backend: split between lanes by `request.lanes`, then
   * round-robin between the projects of a lane and between the owners of a project.
   */
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
    /** An object, or its JSON text already made (a large result, serialised off the transaction). */
    result?: Record<string, unknown> | string | null,
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
  dispatch_rank: number;
}

const inDispatchOrder = (a: RawRow, b: RawRow) => a.dispatch_rank - b.dispatch_rank || a.id - b.id;

// Keys (projects of a lane, owners of a project) looked at per claim. Past this many, the
// rotation still reaches every key in turn, MAX_KEYS_PER_CLAIM at a time.
const MAX_KEYS_PER_CLAIM = 64;

export function createWorkStore(db: Db): WorkStore {
  const sqlite = db.$client;

  const insert = sqlite.prepare(
    `INSERT INTO work_items (kind, subject_id, project_id, lane, owner_key, backend, status, payload, created_at_ms)
     VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)`,
  );

  // Loose index scans over work_items_claim_by_project (status, backend, lane, project_id,
  // owner_key, id): the distinct lanes, the distinct projects of a lane, the distinct owners of a
  // project, one index seek per key however many rows are queued (a 50,000-line batch is one
  // owner). A plain DISTINCT would walk every queued row on every claim.
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

  // The keys of a level in key order from just after @after (or from the first), at most @limit:
  // the outer LIMIT stops the recursion, so the cost is the keys returned, not the keys there are.
  const keyScan = (column: "project_id" | "owner_key", scope: string, hasAfter: boolean) =>
    sqlite.prepare(
      `WITH RECURSIVE keys(key) AS (
         SELECT MIN(${column}) FROM work_items
         WHERE status = 'queued' AND backend = @backend AND ${scope}${hasAfter ? ` AND ${column} > @after` : ""}
         UNION ALL
         SELECT (SELECT MIN(${column}) FROM work_items
                 WHERE status = 'queued' AND backend = @backend AND ${scope} AND ${column} > keys.key)
         FROM keys WHERE keys.key IS NOT NULL
       )
       SELECT key FROM keys WHERE key IS NOT NULL LIMIT @limit`,
    );
  const projectScope = "lane = @lane";
  const ownerScope = "lane = @lane AND project_id = @project";
  const projectKeys = {
    first: keyScan("project_id", projectScope, false),
    after: keyScan("project_id", projectScope, true),
  };
  const ownerKeys = {
    first: keyScan("owner_key", ownerScope, false),
    after: keyScan("owner_key", ownerScope, true),
  };

  // One owner's share in one statement: its next ready rows in dispatch order (dispatch_rank,
  // then id: oldest first among equals, and every row but a batch line has rank 0), marked
  // running under our lease. The order is the claim index's own past owner_key, so this is a
  // range scan that stops after @limit ready rows, never a sort of the owner's queue.
  // The `status = 'queued'` in the subquery is what makes a row claimable once: the claim runs in
  // an IMMEDIATE transaction, so no other writer can claim it between the SELECT and the UPDATE.
  const claimOfOwner = sqlite.prepare(
    `UPDATE work_items
     SET status = 'running', lease_owner = @leaseOwner, lease_expires_at_ms = @leaseExpiresAtMs,
         attempts = attempts + 1
     WHERE id IN (
       SELECT id FROM work_items
       WHERE status = 'queued' AND backend = @backend AND lane = @lane AND project_id = @project
         AND owner_key = @owner AND not_before_ms <= @nowMs
       ORDER BY dispatch_rank, id LIMIT @limit)
     RETURNING id, kind, subject_id, project_id, lane, owner_key, backend, attempts, payload,
       dispatch_rank`,
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

  /**
   * Keys in rotation order: those after `last`, then from the first up to `last` (wrapping), at
   * most MAX_KEYS_PER_CLAIM.
   */
  function rotatedKeys(
    scans: { first: Statement; after: Statement },
    params: Record<string, string | number>,
    last: string | undefined,
  ): string[] {
    const read = (statement: Statement, extra: Record<string, string | number>) =>
      (statement.all({ ...params, ...extra }) as { key: string }[]).map((row) => row.key);
    if (last === undefined) {
      return read(scans.first, { limit: MAX_KEYS_PER_CLAIM });
    }
    const keys = read(scans.after, { after: last, limit: MAX_KEYS_PER_CLAIM });
    if (keys.length < MAX_KEYS_PER_CLAIM) {
      for (const key of read(scans.first, { limit: MAX_KEYS_PER_CLAIM - keys.length })) {
        if (key > last) {
          break; // wrapped round to where the first read began
        }
        keys.push(key);
      }
    }
    return keys;
  }

  // Fairness invariants of one claim (a backend with `limit` free slots):
  // - Lanes: `request.lanes` splits the slots between lanes with queued work (weighted fair
  //   shares: a higher-priority lane gets more, but no lane with ready work gets none for long,
  //   however much is queued ahead of it). A lane that cannot fill its share hands the rest back,
  //   and the others split it, so a slot stays free only when no lane has a ready row.
  // - Projects: within a lane, the slots go round-robin between projects, starting after the
  //   project served last, so a project's flood of one lane cannot hold back another project's
  //   work in that lane for more than one turn.
  // - Owners: within a project, round-robin again between its owners (its batches, its streams),
  //   so one large batch cannot starve its project's other batches.
  // - Within an owner, in dispatch order: (dispatch_rank, id), i.e. oldest first except where
  //   a batch's lines were ranked to keep lines sharing a prompt prefix together.
  // Every step is an index seek per key served (see the scans above), never a walk of the queue.
  const claimTransaction = sqlite.transaction((request: ClaimRequest): ClaimedWork[] => {
    const { backend, leaseOwner, nowMs, rotation } = request;
    const leaseExpiresAtMs = nowMs + request.leaseMs;
    const claimed: ClaimedWork[] = [];

    const claimOwner = (lane: number, project: string, owner: string, limit: number) => {
      const rows = claimOfOwner.all({
        leaseOwner,
        leaseExpiresAtMs,
        backend,
        lane,
        project,
        owner,
        nowMs,
        limit,
      }) as RawRow[];
      // RETURNING's order is unspecified: run each owner's rows in dispatch order.
      rows.sort(inDispatchOrder);
      for (const row of rows) {
        claimed.push(toClaimed(row));
      }
      return rows.length;
    };

    const claimProject = (lane: number, project: string, limit: number) => {
      const rotationKey = `${lane}\u0000${project}`;
      const owners = rotatedKeys(
        ownerKeys,
        { backend, lane, project },
        rotation.lastOwnerByProject.get(rotationKey),
      );
      const { served, lastServed } = fillRoundRobin(owners, limit, (owner, share) =>
        claimOwner(lane, project, owner, share),
      );
      if (lastServed !== undefined) {
        rotation.lastOwnerByProject.set(rotationKey, lastServed);
      }
      return served;
    };

    const claimLane = (lane: number, limit: number) => {
      const projects = rotatedKeys(
        projectKeys,
        { backend, lane },
        rotation.lastProjectByLane.get(lane),
      );
      const { served, lastServed } = fillRoundRobin(projects, limit, (project, share) =>
        claimProject(lane, project, share),
      );
      if (lastServed !== undefined) {
        rotation.lastProjectByLane.set(lane, lastServed);
      }
      return served;
    };

    // Room per lane: a lane at its laneLimit hands the rest of its share back, as one that ran dry.
    const laneRoom = new Map<number, number>();
    const roomOfLane = (lane: number) => {
      let laneLeft = laneRoom.get(lane);
      if (laneLeft === undefined) {
        laneLeft = request.laneLimit?.(lane) ?? request.limit;
        laneRoom.set(lane, laneLeft);
      }
      return laneLeft;
    };
    let lanes = (lanesWithWork.all({ backend }) as { lane: number }[])
      .map((row) => row.lane)
      .filter((lane) => roomOfLane(lane) > 0);
    let room = request.limit;
    while (room > 0 && lanes.length > 0) {
      const shares = request.lanes.share(lanes, room);
      const short = new Set<number>();
      for (const lane of lanes) {
        const share = shares.get(lane) ?? 0;
        if (share === 0) {
          continue;
        }
        const served = claimLane(lane, Math.min(share, roomOfLane(lane)));
        room -= served;
        laneRoom.set(lane, roomOfLane(lane) - served);
        if (served < share) {
          request.lanes.shortfall(lane, share - served);
          short.add(lane);
        }
      }
      // Lanes that filled their shares keep their turn; the rest of the slots go to them.
      lanes = lanes.filter((lane) => !short.has(lane));
      if (short.size === 0) {
        break;
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
      const resultText =
        result === null ? null : typeof result === "string" ? result : JSON.stringify(result);
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

/**
 * Hands `limit` slots to `keys` in turn, in rounds of an equal share each, until the slots run
 * out or every key has run dry (claimed less than it was offered). `take` claims up to its share
 * for one key and returns how many it got.
 */
function fillRoundRobin(
  keys: readonly string[],
  limit: number,
  take: (key: string, share: number) => number,
): { served: number; lastServed: string | undefined } {
  let room = limit;
  let lastServed: string | undefined;
  let active = keys;
  while (room > 0 && active.length > 0) {
    const share = Math.ceil(room / active.length);
    const stillFull: string[] = [];
    for (const key of active) {
      if (room <= 0) {
        break;
      }
      const offered = Math.min(share, room);
      const got = take(key, offered);
      if (got > 0) {
        room -= got;
        lastServed = key;
      }
      if (got === offered) {
        stillFull.push(key);
      }
    }
    active = stillFull;
  }
  return { served: limit - room, lastServed };
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
