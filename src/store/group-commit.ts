import type Database from "better-sqlite3";
import { coerceError } from "../lib/coerce-error.js";

/**
 * Group commit: writes queued during one turn of the event loop share one transaction, so N
 * concurrent requests pay for one commit (one WAL append of the touched pages) instead of N.
 */
export interface GroupCommit<T> {
  /**
   * Queues `item` for the next group. Resolves once the transaction that wrote it has committed;
   * rejects if that transaction failed (then every item of the group rejects, none was written).
   * Never call it inside a transaction: the promise would say "committed" before the outer one is.
   */
  add(item: T): Promise<void>;
}

export interface GroupCommitOptions {
  /** Flush at once when this many items are queued, rather than waiting for the next turn. */
  readonly maxItems: number;
}

interface Queued<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export function createGroupCommit<T>(
  client: Database.Database,
  write: (item: T) => void,
  options: GroupCommitOptions = { maxItems: 256 },
): GroupCommit<T> {
  const writeAll = client.transaction((items: readonly Queued<T>[]) => {
    for (const queued of items) {
      write(queued.item);
    }
  });
  let queue: Queued<T>[] = [];
  let isScheduled = false;

  // Runs synchronously from start to end, so no other transaction can interleave with it.
  function flush(): void {
    const group = queue;
    queue = [];
    if (group.length === 0) {
      return;
    }
    try {
      // IMMEDIATE: see services' transaction; a group's writes may read first.
      writeAll.immediate(group);
    } catch (thrown) {
      const err = coerceError(thrown);
      for (const queued of group) {
        queued.reject(err);
      }
      return;
    }
    for (const queued of group) {
      queued.resolve();
    }
  }

  // setImmediate runs after the current I/O phase, so every request whose body or backend call
  // completed in this turn has queued its row by then: that is what makes the groups large.
  function flushScheduled(): void {
    isScheduled = false;
    flush();
  }

  return {
    add(item) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (queue.length >= options.maxItems) {
          flush();
        } else if (!isScheduled) {
          isScheduled = true;
          setImmediate(flushScheduled);
        }
      });
    },
  };
}
