import type { BackendCallOptions } from "../backends/backend.js";
import type { RetryPolicy } from "../executor/retry.js";

/**
 * How a service runs its backend calls for one request: a live request gives none (the
 * service's retry policy, a slot acquired at interactive priority); a batch line gives a single
 * attempt (the executor owns its retries) and the slot the executor took when it claimed it.
 */
export interface CallOptions extends BackendCallOptions {
  /** Unset: the service's own policy. */
  readonly retry?: RetryPolicy;
}
