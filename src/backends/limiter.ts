import type { Clock } from "../lib/clock.js";
import { type AdaptiveLimit, createAdaptiveLimit, type LimitSample } from "./adaptive-limit.js";

/**
 * Who a backend call is for, in the order slots are granted: a client waiting on an HTTP request
 * (interactive), a background or stream response the executor runs (background), a batch line
 * (batch).
 */
export type SlotPriority = "interactive" | "background" | "batch";

const PRIORITIES: readonly SlotPriority[] = ["interactive", "background", "batch"];

/** One of a limiter's slots, held from acquire (or claim) to release. */
export interface Slot {
  readonly priority: SlotPriority;
  /** Gives the slot back; once only, later calls do nothing. */
  release(): void;
  /**
   * For a backend call made with this slot: true, and the call now holds it (and releases it when
   * it ends), if the slot is still held and no other call has it; false otherwise, and the call
   * acquires a slot of its own at the same priority (a second choice of an `n: 2` request).
   */
  adopt(): boolean;
}

/**
 * A per-backend concurrency limit. Its limit is the backend's max_concurrency, or, when adaptive,
 * what adaptive-limit.ts finds within it. A freed slot goes to the waiting interactive calls first,
 * then background, then batch (each FIFO). The executor takes its slots with `tryAcquire` when it
 * claims work, so a claimed item never waits in here; clients wait in `acquire`.
 *
 * A share of the limit (the interactive reserve) is kept from batch work: batch slots are at most
 * limit − reserve, while interactive and background calls may fill the whole limit. The reserve
 * follows demand: the configured share at most, but only as many slots as the most interactive
 * and background calls in flight or waiting at once in the last one or two DEMAND_WINDOW_MS, plus
 * one (so one at least, for the first call to come). A backend that only runs a batch lends it
 * every slot but one; once clients call, the reserve grows to what they use, and a call beyond it
 * waits for the next freed slot (freed slots go to waiting clients first): one call's time at most.
 */
export interface Limiter {
  /** The ceiling: the backend's max_concurrency. */
  readonly max: number;
  readonly isAdaptive: boolean;
  /** The limit in force now (equal to `max` when not adaptive). */
  limit(): number;
  /** The limit found (equal to `max` when not adaptive), a probe round's lower one aside. */
  estimate(): number;
  /** Slots kept free of batch work at the current limit. */
  reserve(): number;
  inFlight(): number;
  /** Callers waiting for a slot. */
  waiting(): number;
  /** Slots a claim at `priority` may take now: within its cap, after the waiters ahead of it. */
  available(priority: SlotPriority): number;
  /** A slot at once, or null when `available(priority)` is 0. */
  tryAcquire(priority: SlotPriority): Slot | null;
  /** Resolves with a slot once one is free for `priority`; rejects if `signal` aborts first. */
  acquire(priority: SlotPriority, signal: AbortSignal): Promise<Slot>;
  /** Feeds a finished call's sample to the adaptive limit (ignored when not adaptive). */
  record(sample: LimitSample): void;
  /**
   * Calls `listener` whenever room may have opened (a slot released, the limit changed), after
   * the waiters had their turn; returns the unsubscribe. The executor claims more work on it.
   */
  onFree(listener: () => void): () => void;
}

export interface LimiterOptions {
  readonly max: number;
  readonly adaptive: boolean;
  /** The share of the limit kept free of batch work (see reserveOf). */
  readonly interactiveReserve: number;
  readonly clock: Clock;
  /** The adaptive limit to use; by default one that starts low and slow-starts (tests inject). */
  readonly adaptiveLimit?: AdaptiveLimit;
}

/** How long a peak of interactive and background demand holds up the reserve (two windows). */
const DEMAND_WINDOW_MS = 5_000;

interface Waiter {
  readonly priority: SlotPriority;
  grant(slot: Slot): void;
}

export function createLimiter(options: LimiterOptions): Limiter {
  const { max, clock } = options;
  const adaptive = options.adaptive
    ? (options.adaptiveLimit ?? createAdaptiveLimit({ ceiling: max }))
    : null;
  let inFlight = 0;
  const waiters: Record<SlotPriority, Waiter[]> = { interactive: [], background: [], batch: [] };
  const freeListeners = new Set<() => void>();
  // Interactive and background calls in flight, and the most of them (with their waiters) seen
  // in this window and the one before it.
  let clientInFlight = 0;
  let windowStartedAtMs = clock.nowMs();
  let windowPeak = 0;
  let previousWindowPeak = 0;

  const rollWindow = () => {
    const nowMs = clock.nowMs();
    if (nowMs - windowStartedAtMs >= DEMAND_WINDOW_MS) {
      previousWindowPeak = nowMs - windowStartedAtMs >= 2 * DEMAND_WINDOW_MS ? 0 : windowPeak;
      windowPeak = 0;
      windowStartedAtMs = nowMs;
    }
  };
  const noteDemand = () => {
    rollWindow();
    const demand = clientInFlight + waiters.interactive.length + waiters.background.length;
    windowPeak = Math.max(windowPeak, demand);
  };
  const limit = () => Math.min(max, adaptive?.current() ?? max);
  const reserve = () => {
    rollWindow();
    const demanded = Math.max(windowPeak, previousWindowPeak) + 1;
    return Math.min(reserveOf(limit(), options.interactiveReserve), demanded);
  };
  const capOf = (priority: SlotPriority) => (priority === "batch" ? limit() - reserve() : limit());
  const waitingAhead = (priority: SlotPriority) => {
    let ahead = 0;
    for (const other of PRIORITIES) {
      ahead += waiters[other].length;
      if (other === priority) {
        break;
      }
    }
    return ahead;
  };
  const available = (priority: SlotPriority) =>
    Math.max(0, capOf(priority) - inFlight - waitingAhead(priority));

  function newSlot(priority: SlotPriority): Slot {
    inFlight++;
    const isClient = priority !== "batch";
    if (isClient) {
      clientInFlight++;
      noteDemand();
    }
    let isReleased = false;
    let isAdopted = false;
    return {
      priority,
      release() {
        if (!isReleased) {
          isReleased = true;
          inFlight--;
          if (isClient) {
            clientInFlight--;
          }
          grantWaiters();
          tellFree();
        }
      },
      adopt() {
        if (isReleased || isAdopted) {
          return false;
        }
        isAdopted = true;
        return true;
      },
    };
  }

  function tellFree() {
    for (const listener of freeListeners) {
      listener();
    }
  }

  /** Hands freed room to waiters, highest priority first, each within its own cap. */
  function grantWaiters() {
    for (const priority of PRIORITIES) {
      const queue = waiters[priority];
      while (queue.length > 0 && inFlight < capOf(priority)) {
        queue.shift()?.grant(newSlot(priority));
      }
      if (queue.length > 0) {
        return; // lower priorities wait behind this one
      }
    }
  }

  function tryAcquire(priority: SlotPriority): Slot | null {
    return available(priority) > 0 ? newSlot(priority) : null;
  }

  return {
    max,
    isAdaptive: adaptive !== null,
    limit,
    estimate: () => Math.min(max, adaptive?.estimate() ?? max),
    reserve,
    inFlight: () => inFlight,
    waiting: () => PRIORITIES.reduce((sum, priority) => sum + waiters[priority].length, 0),
    available,
    tryAcquire,
    acquire(priority, signal) {
      if (signal.aborted) {
        return Promise.reject(signal.reason);
      }
      const slot = tryAcquire(priority);
      if (slot !== null) {
        return Promise.resolve(slot);
      }
      return new Promise((resolve, reject) => {
        const queue = waiters[priority];
        const waiter: Waiter = {
          priority,
          grant: (granted) => {
            signal.removeEventListener("abort", onAbort);
            resolve(granted);
          },
        };
        const onAbort = () => {
          const index = queue.indexOf(waiter);
          if (index !== -1) {
            queue.splice(index, 1);
            grantWaiters(); // those behind it may fit now
          }
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        queue.push(waiter);
        if (priority !== "batch") {
          noteDemand();
        }
      });
    },
    record(sample) {
      if (adaptive === null) {
        return;
      }
      const before = adaptive.current();
      adaptive.record(sample, clock.nowMs());
      if (adaptive.current() > before) {
        grantWaiters();
        tellFree();
      }
    },
    onFree(listener) {
      freeListeners.add(listener);
      return () => freeListeners.delete(listener);
    },
  };
}

/**
 * Slots kept from batch work at `limit`: the `fraction` of it, rounded down, yet at least one
 * whenever the limit has two slots or more (a limit of 1 is all batch work has).
 */
export function reserveOf(limit: number, fraction: number): number {
  if (limit < 2 || fraction <= 0) {
    return 0;
  }
  return Math.min(limit - 1, Math.max(1, Math.floor(limit * fraction)));
}
