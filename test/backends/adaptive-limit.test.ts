import { describe, expect, it } from "vitest";
import {
  type AdaptiveLimit,
  createAdaptiveLimit,
  INITIAL_LIMIT,
} from "../../src/backends/adaptive-limit.js";

/**
 * A deterministic closed-loop model of an inference server in front of the algorithm: calls
 * start whenever the limit has room (a backlog that never runs dry), each takes
 * `latencyMs × max(1, inFlight / knee)` (a GPU whose batch is full slows every call down), and
 * a call arriving while more than `rejectAbove` are in flight gets a 429 at once.
 */
interface Upstream {
  readonly latencyMs: number;
  readonly knee?: number;
  readonly rejectAbove?: number;
}

interface Run {
  readonly limits: number[];
  readonly maxInFlightAfter: (ms: number) => number;
  readonly rejected: number;
  readonly completed: number;
}

function simulate(limit: AdaptiveLimit, upstream: Upstream, durationMs: number): Run {
  let nowMs = 0;
  const calls: { startedAtMs: number; endsAtMs: number; inFlight: number; rejected: boolean }[] =
    [];
  const limits: number[] = [];
  const inFlightAt: { atMs: number; inFlight: number }[] = [];
  let rejected = 0;
  let completed = 0;
  while (nowMs < durationMs) {
    // Fill the limit (a refused call holds its slot until its 429 is back, as in the limiter).
    while (calls.length < limit.current()) {
      const inFlight = calls.length + 1;
      const isRejected = upstream.rejectAbove !== undefined && inFlight > upstream.rejectAbove;
      const slowdown = upstream.knee === undefined ? 1 : Math.max(1, inFlight / upstream.knee);
      calls.push({
        startedAtMs: nowMs,
        endsAtMs: nowMs + (isRejected ? 1 : upstream.latencyMs * slowdown),
        inFlight,
        rejected: isRejected,
      });
      inFlightAt.push({ atMs: nowMs, inFlight: calls.length });
      if (isRejected) {
        break; // the 429 comes back before anything else starts
      }
    }
    calls.sort((a, b) => a.endsAtMs - b.endsAtMs);
    const next = calls.shift();
    if (next === undefined) {
      break;
    }
    nowMs = next.endsAtMs;
    if (next.rejected) {
      rejected++;
    } else {
      completed++;
    }
    limit.record(
      {
        startedAtMs: next.startedAtMs,
        latencyMs: next.endsAtMs - next.startedAtMs,
        outcome: next.rejected ? "overload" : "ok",
        inFlight: next.inFlight,
      },
      nowMs,
    );
    limits.push(limit.estimate());
  }
  return {
    limits,
    rejected,
    completed,
    maxInFlightAfter: (ms) =>
      Math.max(0, ...inFlightAt.filter((entry) => entry.atMs >= ms).map((entry) => entry.inFlight)),
  };
}

describe("the adaptive concurrency limit", () => {
  it("starts low and slow-starts to the ceiling while latency stays flat", () => {
    const limit = createAdaptiveLimit({ ceiling: 128 });
    expect(limit.current()).toBe(INITIAL_LIMIT);
    const run = simulate(limit, { latencyMs: 20 }, 2_000);
    expect(limit.current()).toBe(128);
    // Doubling per round trip: the ceiling is reached within a handful of round trips.
    const reachedAt = run.limits.indexOf(128);
    expect(reachedAt).toBeGreaterThan(0);
    expect(reachedAt).toBeLessThan(8 + 16 + 32 + 64 + 128);
  });

  it("settles near an upstream that answers 429 past 32 in flight, with few 429s", () => {
    const limit = createAdaptiveLimit({ ceiling: 128 });
    const run = simulate(limit, { latencyMs: 20, rejectAbove: 32 }, 10_000);
    const tail = run.limits.slice(-2_000);
    expect(Math.min(...tail)).toBeGreaterThanOrEqual(16);
    expect(Math.max(...tail)).toBeLessThanOrEqual(48);
    expect(run.rejected).toBeLessThan(run.completed * 0.1);
  });

  it("backs off from a latency knee at 32 in flight (no 429s) and keeps the queue short", () => {
    const limit = createAdaptiveLimit({ ceiling: 128 });
    const run = simulate(limit, { latencyMs: 50, knee: 32 }, 30_000);
    const tail = run.limits.slice(-2_000);
    expect(Math.max(...tail)).toBeLessThanOrEqual(64);
    expect(Math.min(...tail)).toBeGreaterThanOrEqual(20);
    expect(run.maxInFlightAfter(20_000)).toBeLessThanOrEqual(72);
  });

  it("cuts once per round trip however many calls of one burst are refused", () => {
    const limit = createAdaptiveLimit({ ceiling: 128, initial: 100 });
    for (let call = 0; call < 60; call++) {
      limit.record({ startedAtMs: 0, latencyMs: 1, outcome: "overload", inFlight: 100 }, 10);
    }
    expect(limit.current()).toBe(75);
    // A call started after the cut and refused again cuts again.
    limit.record({ startedAtMs: 11, latencyMs: 1, outcome: "overload", inFlight: 75 }, 12);
    expect(limit.current()).toBe(56);
  });

  it("does not grow while the calls do not fill it (an idle backend stays where it was)", () => {
    const limit = createAdaptiveLimit({ ceiling: 128, initial: 32 });
    for (let call = 0; call < 1_000; call++) {
      limit.record(
        { startedAtMs: call * 10, latencyMs: 5, outcome: "ok", inFlight: 2 },
        call * 10 + 5,
      );
    }
    expect(limit.current()).toBe(32);
  });

  it("ignores what says nothing about load, and never leaves 1..ceiling", () => {
    const limit = createAdaptiveLimit({ ceiling: 4, initial: 50 });
    expect(limit.current()).toBe(4);
    for (let call = 0; call < 100; call++) {
      limit.record({ startedAtMs: call, latencyMs: 1e6, outcome: "ignored", inFlight: 4 }, call);
    }
    expect(limit.current()).toBe(4);
    for (let call = 0; call < 100; call++) {
      limit.record(
        { startedAtMs: call * 2, latencyMs: 1, outcome: "overload", inFlight: 4 },
        call * 2 + 1,
      );
    }
    expect(limit.current()).toBe(1);
  });
});
