import type { Context } from "hono";
import { ApiError } from "../lib/api-error.js";

/** Counts the long-polls each key holds open. */
export interface LongPollLimiter {
  /** A release function (safe to call more than once), or null when the key is at its limit. */
  tryAcquire(limitKey: string): (() => void) | null;
  active(limitKey: string): number;
  /** Keys with at least one long-poll open; a key's entry goes when its last one ends. */
  size(): number;
  readonly maxPerKey: number;
}

export function createLongPollLimiter(options: { maxPerKey: number }): LongPollLimiter {
  const { maxPerKey } = options;
  const counts = new Map<string, number>();
  return {
    maxPerKey,
    tryAcquire(limitKey) {
      const count = counts.get(limitKey) ?? 0;
      if (count >= maxPerKey) {
        return null;
      }
      counts.set(limitKey, count + 1);
      let isReleased = false;
      return () => {
        if (isReleased) {
          return;
        }
        isReleased = true;
        const left = (counts.get(limitKey) ?? 1) - 1;
        if (left <= 0) {
          counts.delete(limitKey);
        } else {
          counts.set(limitKey, left);
        }
      };
    },
    active: (limitKey) => counts.get(limitKey) ?? 0,
    size: () => counts.size,
  };
}

// Open mode has no key: every client shares one allowance.
const OPEN_MODE_LIMIT_KEY = "open";

/**
 * Takes one of the calling key's long-poll slots, for a request that will wait (wait_ms > 0).
 * Returns the release function, to call once when the wait ends however it ends (`finally`);
 * throws a 429 when the key already holds its maximum. Without a limiter (a route tested on its
 * own) there is no limit.
 */
export function acquireLongPoll(c: Context, limiter: LongPollLimiter | undefined): () => void {
  if (limiter === undefined) {
    return () => {};
  }
  const limitKey = c.get("identity")?.limitKey ?? OPEN_MODE_LIMIT_KEY;
  const release = limiter.tryAcquire(limitKey);
  if (release === null) {
    throw new ApiError(
      429,
      `Too many concurrent long-polls for this API key (limit ${limiter.maxPerKey}). Wait for one to return, or poll with wait_ms=0.`,
      { type: "requests", code: "rate_limit_exceeded", headers: { "retry-after": "1" } },
    );
  }
  return release;
}
