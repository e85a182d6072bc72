/**
 * Wakes long-polls waiting on a stream when one of its items completes. The executor's commit
 * calls `notify` after the transaction, so a woken reader always finds the new event. In one
 * process this is a map of waiters; across processes it would be LISTEN/NOTIFY.
 */
export interface StreamNotifier {
  notify(streamId: string): void;
  /**
   * Resolves true when the stream is notified, false after `timeoutMs` or when `signal` aborts
   * (a client that went away frees its wait at once).
   */
  wait(streamId: string, timeoutMs: number, signal: AbortSignal): Promise<boolean>;
  /** Waits now pending, for limits and tests. */
  waiting(): number;
}

export function createStreamNotifier(): StreamNotifier {
  const waiters = new Map<string, Set<(isNotified: boolean) => void>>();
  let count = 0;
  return {
    notify(streamId) {
      const set = waiters.get(streamId);
      if (set === undefined) {
        return;
      }
      waiters.delete(streamId);
      for (const wake of set) {
        wake(true);
      }
    },
    wait(streamId, timeoutMs, signal) {
      return new Promise((resolve) => {
        if (signal.aborted || timeoutMs <= 0) {
          resolve(false);
          return;
        }
        let set = waiters.get(streamId);
        if (set === undefined) {
          set = new Set();
          waiters.set(streamId, set);
        }
        const waitersOfStream = set;
        count++;
        const finish = (isNotified: boolean) => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          waitersOfStream.delete(finish);
          if (waitersOfStream.size === 0 && waiters.get(streamId) === waitersOfStream) {
            waiters.delete(streamId);
          }
          count--;
          resolve(isNotified);
        };
        const onAbort = () => finish(false);
        const timer = setTimeout(() => finish(false), timeoutMs);
        signal.addEventListener("abort", onAbort, { once: true });
        waitersOfStream.add(finish);
      });
    },
    waiting: () => count,
  };
}
