/**
 * A timeout that can be stopped and re-armed, unlike `AbortSignal.timeout()`: the stream reader
 * arms it only while it waits for the upstream, so time spent waiting for a slow consumer never
 * counts against the upstream. Once it fires, it aborts its call (with a TimeoutError) and
 * `hasExpired` is true for good, which is how a timeout is told apart from the caller's abort.
 */
export interface Deadline {
  readonly hasExpired: boolean;
  /** (Re)starts the countdown from now. Does nothing once expired. */
  arm(): void;
  /** Stops the countdown; every call must end with this so no timer outlives it. */
  disarm(): void;
}

/** A deadline that aborts `call` when it expires; several deadlines may share one call. */
export function createDeadline(timeoutMs: number, call: AbortController): Deadline {
  let timer: NodeJS.Timeout | undefined;
  let hasExpired = false;
  const disarm = () => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
  };
  return {
    get hasExpired() {
      return hasExpired;
    },
    arm() {
      disarm();
      if (hasExpired) {
        return;
      }
      timer = setTimeout(() => {
        timer = undefined;
        hasExpired = true;
        call.abort(new DOMException(`Timed out after ${timeoutMs} ms`, "TimeoutError"));
      }, timeoutMs);
      // A forgotten disarm() must not keep the process alive.
      timer.unref();
    },
    disarm,
  };
}

/**
 * One controller for one upstream call, aborted by the caller's signal (with its reason), by the
 * call's deadlines, or by the call itself once it is done with the request. One controller and
 * one listener, rather than `AbortSignal.any` over a signal per cause, which costs a signal, weak
 * references and a listener per source on every call.
 */
export function linkToCaller(callerSignal: AbortSignal): {
  readonly call: AbortController;
  /** Stops listening to the caller; every call must end with this. */
  unlink(): void;
} {
  const call = new AbortController();
  if (callerSignal.aborted) {
    call.abort(callerSignal.reason);
    return { call, unlink: () => {} };
  }
  const forward = () => call.abort(callerSignal.reason);
  callerSignal.addEventListener("abort", forward, { once: true });
  return { call, unlink: () => callerSignal.removeEventListener("abort", forward) };
}
