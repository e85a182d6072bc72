import { ApiError } from "../lib/api-error.js";
import type { Clock } from "../lib/clock.js";
import type { ProjectWorkCounts } from "../store/project-work-counts.js";

/** How long a client over the cap is told to wait: the queue drains at the backends' pace. */
const RETRY_AFTER_SECONDS = 5;
/** A project over its cap is counted again at most this often (a count reads its whole queue). */
const RECOUNT_MS = 250;
/** Work enqueued by other processes on the same database shows up within this. */
const MAX_TALLY_AGE_MS = 1000;

export interface QueueCap {
  /**
   * Throws a 429 if `adding` more work items would take the project past its cap of unfinished
   * (held, queued or running) work; otherwise counts them as added, unless `isReserving` is
   * false (a check before the size is known). Call it before anything is written.
   */
  assertRoom(projectId: string, adding: number, options?: { isReserving?: boolean }): void;
  /** True when `adding` items cannot take the project past its cap, whatever it has queued now. */
  isSurelyUnder(projectId: string, adding: number): boolean;
}

/**
 * The per-project cap on queued work, so that one project cannot fill the database (and the
 * executor's lanes) for everyone. 0: no cap.
 *
 * Counting a project's queue reads every one of its unfinished rows' index entries, too much for
 * every request, so each project has a tally: its count when last counted plus what this process
 * let in since. Work only leaves the queue between counts, so the tally is an upper bound, and a
 * request it lets in is surely under the cap; a request it would refuse is counted afresh first,
 * so finished work makes room again (and a refused project is counted at most every RECOUNT_MS). Other processes' enqueues are
 * seen at the next count, at most MAX_TALLY_AGE_MS later: across processes the cap can be passed
 * by what they let in meanwhile. Per-row triggers keeping an exact counter cost a third of a
 * 50,000-line batch's time, which is why it is not done that way.
 */
export function createQueueCap(options: {
  counts: ProjectWorkCounts;
  /** The backends and lanes whose work is counted (all of them). */
  scope: { readonly backends: readonly string[]; readonly lanes: readonly number[] };
  maxQueuedPerProject: number;
  clock: Clock;
}): QueueCap {
  const { counts, scope, maxQueuedPerProject: max, clock } = options;
  const tallies = new Map<string, { count: number; countedAtMs: number }>();

  function tallyFor(projectId: string, adding: number) {
    const nowMs = clock.nowMs();
    let tally = tallies.get(projectId);
    const ageMs = tally === undefined ? Number.POSITIVE_INFINITY : nowMs - tally.countedAtMs;
    if (
      tally === undefined ||
      ageMs >= MAX_TALLY_AGE_MS ||
      (tally.count + adding > max && ageMs >= RECOUNT_MS)
    ) {
      tally = { count: counts.countUnfinished(projectId, scope), countedAtMs: nowMs };
      tallies.set(projectId, tally);
    }
    return tally;
  }

  return {
    assertRoom(projectId, adding, { isReserving = true } = {}) {
      if (max <= 0) {
        return;
      }
      const tally = tallyFor(projectId, adding);
      if (tally.count + adding <= max) {
        if (isReserving) {
          tally.count += adding;
        }
        return;
      }
      const unfinished = tally.count;
      throw new ApiError(
        429,
        `Project ${projectId} has ${unfinished} requests queued or running, and may have at most ${max} (the server's FERRY_MAX_QUEUED_PER_PROJECT or queue.max_queued_per_project); this request would add ${adding}. Wait for queued work to finish, or cancel some, then retry.`,
        {
          type: "requests",
          code: "queue_limit_exceeded",
          headers: {
            "retry-after": String(RETRY_AFTER_SECONDS),
            "retry-after-ms": String(RETRY_AFTER_SECONDS * 1000),
            "x-ratelimit-limit-queued-requests": String(max),
            "x-ratelimit-remaining-queued-requests": String(Math.max(0, max - unfinished)),
          },
        },
      );
    },
    isSurelyUnder(projectId, adding) {
      return max <= 0 || tallyFor(projectId, adding).count + adding <= max;
    },
  };
}
