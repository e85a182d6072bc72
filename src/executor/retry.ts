import { BackendError, isOverloadError } from "../backends/backend.js";

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /**
   * Attempts in all when the failure is an overload answer (429, 503, a refused connection);
   * unset: maxAttempts. Queued work gets more: while the adaptive limit comes down to what the
   * upstream takes, a few of its calls meet a 429 through no fault of their own.
   */
  readonly overloadMaxAttempts?: number;
}

export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number }
  | { readonly retry: false };

/**
 * Whether and when to try again after `attempt` (1-based) failed with `err`: only retryable
 * backend errors (408, 409, 429, 5xx, connection errors, timeouts), with exponential backoff and
 * full jitter, and never sooner than the backend's Retry-After. Overload answers count against
 * their own budget (overloadMaxAttempts), the rest against maxAttempts.
 */
export function decideRetry(
  err: Error,
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): RetryDecision {
  const maxAttempts = isOverloadError(err)
    ? Math.max(policy.maxAttempts, policy.overloadMaxAttempts ?? policy.maxAttempts)
    : policy.maxAttempts;
  if (!(err instanceof BackendError) || !err.retryable || attempt >= maxAttempts) {
    return { retry: false };
  }
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  // Jitter spreads retries of many items that failed together (a 429 burst) over the window.
  const jittered = exponential / 2 + random() * (exponential / 2);
  const delayMs = Math.max(jittered, err.retryAfterMs ?? 0);
  return { retry: true, delayMs: Math.round(delayMs) };
}
