/**
 * Wakes long-polls waiting on an object (a stream, a response, a batch) by its id. The commit
 * that changes the object calls `notify` after its transaction, so a woken reader always finds
 * the change. In one process this is a map of waiters; a commit in another process sharing the
 * database does not reach it (that would be LISTEN/NOTIFY), so waiters that must see those also
 * re-check at an interval (waitUntil).
 */
export interface KeyedNotifier {
  notify(key: string): void;
  /**
   * Resolves true when the key is notified, false after `timeoutMs` or when `signal` aborts
   * (a client that went away frees its wait at once).
   */
  wait(key: string, timeoutMs: number, signal: AbortSignal): Promise<boolean>;
  /** Waits now pending, for limits and tests. */
  waiting(): number;
}

export function createKeyedNotifier(): KeyedNotifier {
  const waiters = new Map<string, Set<(isNotified: boolean) => void>>();
  let count = 0;
  return {
    notify(key) {
      const set = waiters.get(key);
      if (set === undefined) {
        return;
      }
      waiters.delete(key);
      for (const wake of set) {
        wake(true);
      }
    },
    wait(key, timeoutMs, signal) {
      return new Promise((resolve) => {
        if (signal.aborted || timeoutMs <= 0) {
          resolve(false);
          return;
        }
        let set = waiters.get(key);
        if (set === undefined) {
          set = new Set();
          waiters.set(key, set);
        }
        const waitersOfKey = set;
        count++;
        const finish = (isNotified: boolean) => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          waitersOfKey.delete(finish);
          if (waitersOfKey.size === 0 && waiters.get(key) === waitersOfKey) {
            waiters.delete(key);
          }
          count--;
          resolve(isNotified);
        };
        const onAbort = () => finish(false);
        const timer = setTimeout(() => finish(false), timeoutMs);
        signal.addEventListener("abort", onAbort, { once: true });
        waitersOfKey.add(finish);
      });
    },
    waiting: () => count,
  };
}

/** A commit in another process wakes nobody here: a waiter looks again this often. */
export const CROSS_PROCESS_RECHECK_MS = 1000;

/**
 * Reads an object until `isDone` says so, `waitMs` has passed, or `signal` aborts; returns the
 * last read. The wait is registered before each read, so a commit between the read and the wait
 * still wakes it; a wake for a change that is not yet done just reads again.
 */
export async function waitUntil<T>(options: {
  notifier: KeyedNotifier;
  key: string;
  waitMs: number;
  signal: AbortSignal;
  nowMs: () => number;
  read: () => T;
  isDone: (value: T) => boolean;
  recheckMs?: number;
}): Promise<T> {
  const { notifier, key, signal, nowMs, read, isDone } = options;
  const recheckMs = options.recheckMs ?? CROSS_PROCESS_RECHECK_MS;
  const deadline = nowMs() + options.waitMs;
  for (;;) {
    const remainingMs = deadline - nowMs();
    if (remainingMs <= 0 || signal.aborted) {
      return read();
    }
    // Its own signal, so a wait registered for a read that turns out done ends at once.
    const registered = new AbortController();
    const wake = notifier.wait(
      key,
      Math.min(remainingMs, recheckMs),
      AbortSignal.any([signal, registered.signal]),
    );
    const value = read();
    if (isDone(value)) {
      registered.abort();
      return value;
    }
    await wake;
  }
}
