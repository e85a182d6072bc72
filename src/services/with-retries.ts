import { BackendError } from "../backends/backend.js";
import { decideRetry, type RetryPolicy } from "../executor/retry.js";
import { coerceError } from "../lib/coerce-error.js";
import { sleep } from "../lib/sleep.js";

/**
 * Runs a backend call for a waiting client, retrying retryable failures with the executor's
 * policy (backoff, jitter, Retry-After). The wait ends at once if the client goes away.
 */
export async function withRetries<T>(
  call: () => Promise<T>,
  policy: RetryPolicy,
  signal: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (thrown) {
      const err = coerceError(thrown);
      if (signal.aborted) {
        throw err;
      }
      const decision = decideRetry(err, attempt, policy);
      if (!decision.retry) {
        throw err instanceof BackendError && err.retryable && attempt > 1
          ? exhausted(err, attempt)
          : err;
      }
      await sleep(decision.delayMs, signal);
    }
  }
}

/**
 * The last error once ferry has retried: marked not retryable, so the answer carries
 * `x-should-retry: false` and the SDK does not multiply the retries it already got.
 */
function exhausted(err: BackendError, attempts: number): BackendError {
  return new BackendError(`${err.message} (gave up after ${attempts} attempts)`, {
    status: err.status,
    retryable: false,
    retryAfterMs: err.retryAfterMs,
    type: err.type,
    code: err.code,
    param: err.param,
  });
}
