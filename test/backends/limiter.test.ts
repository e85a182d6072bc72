import { describe, expect, it } from "vitest";
import type { AdaptiveLimit } from "../../src/backends/adaptive-limit.js";
import { createLimiter, reserveOf, type Slot } from "../../src/backends/limiter.js";
import { type Clock, systemClock } from "../../src/lib/clock.js";

function fixed(max: number, interactiveReserve = 0.25, clock: Clock = systemClock) {
  return createLimiter({ max, adaptive: false, interactiveReserve, clock });
}

/** A limiter whose clients have called already, so its reserve is the configured share. */
function fixedWithClients(max: number, interactiveReserve = 0.25) {
  const limiter = fixed(max, interactiveReserve);
  const clients = [limiter.tryAcquire("interactive"), limiter.tryAcquire("interactive")];
  for (const slot of clients) {
    slot?.release();
  }
  return limiter;
}

const never = new AbortController().signal;

describe("the backend limiter", () => {
  it("keeps the interactive reserve free of batch work, and lets the rest use the whole limit", () => {
    const limiter = fixedWithClients(8);
    expect(limiter.reserve()).toBe(2);
    expect(limiter.available("batch")).toBe(6);
    const batch: Slot[] = [];
    for (let i = 0; i < 6; i++) {
      batch.push(limiter.tryAcquire("batch") as Slot);
    }
    expect(limiter.tryAcquire("batch")).toBeNull();
    expect(limiter.available("background")).toBe(2);
    expect(limiter.tryAcquire("background")).not.toBeNull();
    expect(limiter.tryAcquire("interactive")).not.toBeNull();
    expect(limiter.inFlight()).toBe(8);
    expect(limiter.tryAcquire("interactive")).toBeNull();
    batch[0]?.release();
    batch[0]?.release(); // twice: the second does nothing
    expect(limiter.inFlight()).toBe(7);
  });

  it("reserves what clients used lately, up to the configured share, and one slot at least", () => {
    let nowMs = 0;
    const clock: Clock = { nowMs: () => nowMs };
    const limiter = fixed(16, 0.25, clock);
    // No client has called: batch work may have every slot but one, kept for the first to come.
    expect(limiter.reserve()).toBe(1);
    expect(limiter.available("batch")).toBe(15);
    const clients = [limiter.tryAcquire("interactive"), limiter.tryAcquire("background")];
    expect(limiter.reserve()).toBe(3); // two calls at once, and one more
    for (const slot of clients) {
      slot?.release();
    }
    nowMs += 6_000;
    expect(limiter.reserve()).toBe(3); // the peak holds through the next window
    const many = Array.from({ length: 8 }, () => limiter.tryAcquire("interactive"));
    expect(limiter.reserve()).toBe(4); // never past the configured share (a quarter of 16)
    for (const slot of many) {
      slot?.release();
    }
    nowMs += 20_000;
    expect(limiter.reserve()).toBe(1); // quiet for two windows: back to one slot
  });

  it("grants a freed slot to interactive waiters first, then background, then batch", async () => {
    const limiter = fixed(2, 0);
    const held = [limiter.tryAcquire("batch") as Slot, limiter.tryAcquire("batch") as Slot];
    const order: string[] = [];
    const wait = (priority: "interactive" | "background" | "batch") =>
      limiter.acquire(priority, never).then((slot) => {
        order.push(priority);
        return slot;
      });
    const batch = wait("batch");
    const background = wait("background");
    const interactive = wait("interactive");
    expect(limiter.waiting()).toBe(3);
    // Waiters are ahead of any claim: nothing is available to the executor meanwhile.
    expect(limiter.available("background")).toBe(0);
    held[0]?.release();
    (await interactive).release();
    held[1]?.release();
    await background;
    await batch;
    expect(order).toEqual(["interactive", "background", "batch"]);
  });

  it("drops a waiter whose caller went away", async () => {
    const limiter = fixed(1, 0);
    const held = limiter.tryAcquire("interactive") as Slot;
    const controller = new AbortController();
    const waiting = limiter.acquire("interactive", controller.signal);
    controller.abort(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
    expect(limiter.waiting()).toBe(0);
    held.release();
    expect(limiter.inFlight()).toBe(0);
  });

  it("lets one call adopt a held slot, once, and none after it was released", () => {
    const limiter = fixed(4);
    const slot = limiter.tryAcquire("batch") as Slot;
    expect(slot.adopt()).toBe(true);
    expect(slot.adopt()).toBe(false);
    const other = limiter.tryAcquire("batch") as Slot;
    other.release();
    expect(other.adopt()).toBe(false);
  });

  it("tells its listeners when room opens, and follows its adaptive limit", () => {
    let current = 2;
    const adaptiveLimit: AdaptiveLimit = {
      current: () => current,
      estimate: () => current,
      record: () => {
        current = 20; // above the ceiling: the ceiling holds
      },
    };
    const limiter = createLimiter({
      max: 8,
      adaptive: true,
      interactiveReserve: 0,
      clock: systemClock,
      adaptiveLimit,
    });
    let told = 0;
    const unsubscribe = limiter.onFree(() => told++);
    expect(limiter.limit()).toBe(2);
    const slot = limiter.tryAcquire("background") as Slot;
    limiter.tryAcquire("background");
    expect(limiter.tryAcquire("background")).toBeNull();
    slot.release();
    expect(told).toBe(1);
    limiter.record({ startedAtMs: 0, latencyMs: 1, outcome: "ok", inFlight: 1 });
    expect(told).toBe(2);
    expect(limiter.limit()).toBe(8);
    unsubscribe();
    limiter.tryAcquire("background")?.release();
    expect(told).toBe(2);
  });

  it("reserves at least one slot whenever the limit has two", () => {
    expect(reserveOf(1, 0.125)).toBe(0);
    expect(reserveOf(2, 0.125)).toBe(1);
    expect(reserveOf(16, 0.125)).toBe(2);
    expect(reserveOf(128, 0.125)).toBe(16);
    expect(reserveOf(16, 0)).toBe(0);
  });
});
