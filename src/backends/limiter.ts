/**
 * A per-backend concurrency limit: never more than `max` calls in flight. The executor claims
 * only as much work as `available()` allows; sync requests wait in `acquire()` for a slot.
 */
export interface Limiter {
  readonly max: number;
  inFlight(): number;
  /** Callers waiting for a slot. */
  waiting(): number;
  available(): number;
  /** Resolves with a release function once a slot is free; rejects if `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<() => void>;
}

export function createLimiter(max: number): Limiter {
  let inFlight = 0;
  const waiters: { grant: () => void; reject: (reason: unknown) => void }[] = [];

  const release = () => {
    const next = waiters.shift();
    if (next === undefined) {
      inFlight--;
    } else {
      next.grant(); // the slot passes straight to the next waiter: inFlight is unchanged
    }
  };
  const once = () => {
    let released = false;
    return () => {
      if (!released) {
        released = true;
        release();
      }
    };
  };

  return {
    max,
    inFlight: () => inFlight,
    waiting: () => waiters.length,
    available: () => Math.max(0, max - inFlight),
    acquire(signal) {
      if (signal.aborted) {
        return Promise.reject(signal.reason);
      }
      if (inFlight < max) {
        inFlight++;
        return Promise.resolve(once());
      }
      return new Promise((resolve, reject) => {
        const waiter = {
          grant: () => {
            signal.removeEventListener("abort", onAbort);
            resolve(once());
          },
          reject,
        };
        const onAbort = () => {
          const index = waiters.indexOf(waiter);
          if (index !== -1) {
            waiters.splice(index, 1);
          }
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        waiters.push(waiter);
      });
    },
  };
}
