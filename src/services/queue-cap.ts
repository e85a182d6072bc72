import { ApiError } from "../lib/api-error.js";
import type { ProjectWorkCounts } from "../store/project-work-counts.js";

/** How long a client over the cap is told to wait: the queue drains at the backends' pace. */
const RETRY_AFTER_SECONDS = 5;

export interface QueueCap {
  /**
   * Throws a 429 if `adding` more work items would take the project past its cap of unfinished
   * (held, queued or running) work. Call it before anything is written.
   */
  assertRoom(projectId: string, adding: number): void;
  /** True when `adding` items cannot take the project past its cap, whatever it has queued now. */
  isSurelyUnder(projectId: string, adding: number): boolean;
}

/**
 * The per-project cap on queued work, so that one project cannot fill the database (and the
 * executor's lanes) for everyone. 0: no cap. The count is read before the write, not inside it:
 * requests checked at the same moment (one group commit of background responses, batches created
 * together) can take a project past the cap by their own size, never further.
 */
export function createQueueCap(options: {
  counts: ProjectWorkCounts;
  maxQueuedPerProject: number;
}): QueueCap {
  const { counts, maxQueuedPerProject: max } = options;
  return {
    assertRoom(projectId, adding) {
      if (max <= 0) {
        return;
      }
      const unfinished = counts.unfinished(projectId);
      if (unfinished + adding <= max) {
        return;
      }
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
      return max <= 0 || counts.unfinished(projectId) + adding <= max;
    },
  };
}
