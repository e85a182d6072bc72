import { ApiError } from "../lib/api-error.js";
import type { Clock } from "../lib/clock.js";

/** One request's verdict, with what OpenAI's x-ratelimit-* headers report. */
export interface RateLimitDecision {
  readonly isAllowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Until the key is back to its full allowance. */
  readonly resetMs: number;
  /** Until one more request would be allowed; 0 when this one was. */
  readonly retryAfterMs: number;
}

export interface RateLimiter {
  take(limitKey: string): RateLimitDecision;
  /** Keys held in memory; a key idle for a whole window is dropped. */
  size(): number;
}

const WINDOW_MS = 60_000;

/**
 * Requests per minute per key, as a token bucket: a key may burst up to its limit, then gets one
 * request back every minute/limit, and is whole again a minute after it goes quiet (what
 * OpenAI's reset header describes). State is in memory, per process.
 *
 * The allowance is kept in integer units (a request costs WINDOW_MS units, and `limit` units
 * come back per millisecond), so "retry after N ms" is exact, not off by a float rounding.
 * Buckets sit in a Map in least-recently-used order; each take moves its key to the end and
 * drops keys from the front that have been idle a whole window, which are full and so no
 * different from absent: O(1) amortized, and memory bounded by the keys active in the last
 * minute.
 *
 * Returns null when `requestsPerMinute` is 0: no limit.
 */
export function createRateLimiter(options: {
  requestsPerMinute: number;
  clock: Clock;
}): RateLimiter | null {
  const { requestsPerMinute: limit, clock } = options;
  if (limit <= 0) {
    return null;
  }
  const capacity = limit * WINDOW_MS;
  const buckets = new Map<string, { units: number; updatedMs: number }>();

  function dropIdle(nowMs: number) {
    for (const [key, bucket] of buckets) {
      if (nowMs - bucket.updatedMs < WINDOW_MS) {
        return;
      }
      buckets.delete(key);
    }
  }

  return {
    take(limitKey) {
      const nowMs = Math.floor(clock.nowMs());
      dropIdle(nowMs);
      const bucket = buckets.get(limitKey);
      let units = capacity;
      if (bucket !== undefined) {
        const elapsedMs = Math.max(0, nowMs - bucket.updatedMs);
        units = Math.min(capacity, bucket.units + elapsedMs * limit);
        buckets.delete(limitKey);
      }
      const isAllowed = units >= WINDOW_MS;
      if (isAllowed) {
        units -= WINDOW_MS;
      }
      buckets.set(limitKey, { units, updatedMs: nowMs });
      return {
        isAllowed,
        limit,
        remaining: Math.floor(units / WINDOW_MS),
        resetMs: Math.ceil((capacity - units) / limit),
        retryAfterMs: isAllowed ? 0 : Math.ceil((WINDOW_MS - units) / limit),
      };
    },
    size: () => buckets.size,
  };
}

/** OpenAI's informational headers, sent on every response to a rate-limited key. */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  return {
    "x-ratelimit-limit-requests": String(decision.limit),
    "x-ratelimit-remaining-requests": String(decision.remaining),
    "x-ratelimit-reset-requests": formatResetDuration(decision.resetMs),
  };
}

/** The 429 for a key over its limit: OpenAI's type and code, and when to come back. */
export function rateLimitError(decision: RateLimitDecision, keyLabel: string): ApiError {
  const retryAfterSeconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
  return new ApiError(
    429,
    `Rate limit reached for API key ${keyLabel} on requests per min (RPM): Limit ${decision.limit}, Used ${decision.limit - decision.remaining}, Requested 1. Please try again in ${formatResetDuration(decision.retryAfterMs)}.`,
    {
      type: "requests",
      code: "rate_limit_exceeded",
      headers: {
        "retry-after": String(retryAfterSeconds),
        "retry-after-ms": String(decision.retryAfterMs),
      },
    },
  );
}

/** Milliseconds the way OpenAI writes its reset headers: "20ms", "1s", "8.64s", "6m0s", "1h0m0s". */
export function formatResetDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) {
    return "0s";
  }
  if (total < 1000) {
    return `${total}ms`;
  }
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = `${(total % 60_000) / 1000}s`;
  if (hours > 0) {
    return `${hours}h${minutes}m${seconds}`;
  }
  return minutes > 0 ? `${minutes}m${seconds}` : seconds;
}
