/**
 * A timeout that can be stopped and re-armed, unlike `AbortSignal.timeout()`: the stream reader
 * arms it only while it waits for the upstream, so time spent waiting for a slow consumer never
 * counts against the upstream. Once it fires, `signal` stays aborted (with a TimeoutError) and
 * `hasExpired` is true for good, which is how a timeout is told apart from the caller's abort.
 */
export interface Deadline {
  readonly signal: AbortSignal;
  readonly hasExpired: boolean;
  /** (Re)starts the countdown from now. Does nothing once expired. */
  arm(): void;
  /** Stops the countdown; every call must end with this so no timer outlives it. */
  disarm(): void;
}

export function createDeadline(timeoutMs: number): Deadline {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let hasExpired = false;
  const disarm = () => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
  };
  return {
    signal: controller.signal,
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
        controller.abort(new DOMException(`Timed out after ${timeoutMs} ms`, "TimeoutError"));
      }, timeoutMs);
      // A forgotten disarm() must not keep the process alive.
      timer.unref();
    },
    disarm,
  };
}
