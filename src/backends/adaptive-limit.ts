/**
 * The concurrency limit an upstream can take, found from what its calls show: a pure state
 * machine fed with samples (one per finished call) and the time, so tests drive it exactly.
 *
 * The algorithm is Netflix's Gradient2 (concurrency-limits, `Gradient2Limit`:
 * https://github.com/Netflix/concurrency-limits), run once per round trip as TCP Vegas does
 * (Brakmo & Peterson, "TCP Vegas: End to End Congestion Avoidance on a Global Internet", 1995),
 * with TCP's slow start and multiplicative decrease on loss (RFC 5681) for overload answers:
 *
 * - Round trips: samples are summed until a call that started after the round began has ended
 *   (one round trip has passed) and at least MIN_ROUND_SAMPLES calls are in; then the round's mean
 *   latency is compared with the baseline, the long-term mean latency (an exponential average
 *   over about LONG_WINDOW_ROUNDS rounds, as Gradient2's long window).
 * - gradient = clamp(tolerance × baseline / round latency, 0.5, 1): 1 while latency stays within
 *   `tolerance` of the baseline (an inference server whose batch still has room), below 1 once
 *   calls queue up (past the knee, latency grows with every call added).
 * - gradient < 1: limit ← limit × (1 − smoothing) + (limit × gradient + √limit) × smoothing
 *   (Gradient2's update, the √limit being its queue allowance), and slow start ends.
 * - gradient = 1, and the calls did fill the limit: slow start doubles the limit per round;
 *   after it, the limit grows by one per round (TCP Reno's additive increase; Gradient2 adds its
 *   √limit queue allowance per sample, which walks back into a 429 knee too soon).
 *   A round that did not fill at least half the limit says nothing about a higher one, so the
 *   limit does not grow then (Gradient2's "app-limited" rule), which keeps an idle backend from
 *   drifting up to the ceiling and then bursting.
 * - An overload answer (429, 503, connection refused) cuts the limit at once to limit × BACKOFF,
 *   ends slow start, and, as TCP cuts once per window of loss, only a call started after the
 *   last cut, and a round trip (the baseline latency) after it, can cut again: the 96 calls that
 *   were in flight when a 429 burst began cut once.
 *   The drift guard from Gradient2 also applies: when the round is much faster than the
 *   baseline (the upstream got faster), the baseline decays towards it.
 *
 * Why it starts low (INITIAL_LIMIT, at most the ceiling) and slow-starts: an unknown upstream
 * sent `max_concurrency` calls at once may answer a burst of 429s (or fall over) before the first
 * sample says anything; doubling per round trip reaches a ceiling of 128 from 8 in four rounds,
 * a fraction of a second on a fast upstream, while a small server is never hit with the ceiling.
 */

export interface LimitSample {
  /** When the call started (clock ms). */
  readonly startedAtMs: number;
  readonly latencyMs: number;
  /**
   * "ok": the upstream answered (even with a client error: latency still says how busy it is);
   * "overload": 429, 503 or a refused connection; "ignored": says nothing about load (the caller
   * aborted, a timeout whose latency is the timeout's).
   */
  readonly outcome: "ok" | "overload" | "ignored";
  /** Calls in flight when it started, itself included. */
  readonly inFlight: number;
}

export interface AdaptiveLimitOptions {
  /** The most it may reach: the backend's max_concurrency. */
  readonly ceiling: number;
  /** Where it starts; by default INITIAL_LIMIT (at most the ceiling). */
  readonly initial?: number;
  /** How far latency may rise over the baseline before the limit comes down (Gradient2: 1.5). */
  readonly tolerance?: number;
}

export interface AdaptiveLimit {
  /** The limit now: a whole number within 1..ceiling. */
  current(): number;
  /** Feeds one finished call; `nowMs` is when it finished. */
  record(sample: LimitSample, nowMs: number): void;
}

export const INITIAL_LIMIT = 8;
const MIN_LIMIT = 1;
const MIN_ROUND_SAMPLES = 4;
const LONG_WINDOW_ROUNDS = 20;
const DEFAULT_TOLERANCE = 1.5;
const SMOOTHING = 0.5;
const BACKOFF = 0.75;
/** Gradient2 clamps the gradient here, so one slow round cannot more than halve the limit. */
const MIN_GRADIENT = 0.5;

export function createAdaptiveLimit(options: AdaptiveLimitOptions): AdaptiveLimit {
  const ceiling = Math.max(MIN_LIMIT, options.ceiling);
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  let limit = clamp(options.initial ?? INITIAL_LIMIT, MIN_LIMIT, ceiling);
  let isSlowStart = true;
  let baselineMs: number | null = null;
  let lastCutAtMs = Number.NEGATIVE_INFINITY;
  // The round in progress.
  let roundStartedAtMs: number | null = null;
  let roundSamples = 0;
  let roundLatencySumMs = 0;
  let roundMaxInFlight = 0;

  function startRound(nowMs: number) {
    roundStartedAtMs = nowMs;
    roundSamples = 0;
    roundLatencySumMs = 0;
    roundMaxInFlight = 0;
  }

  function endRound() {
    const roundMs = roundLatencySumMs / roundSamples;
    if (baselineMs === null) {
      baselineMs = roundMs;
    } else if (baselineMs / roundMs > 2) {
      baselineMs *= 0.95; // Gradient2's drift guard: the upstream got much faster
    }
    const gradient = clamp((tolerance * baselineMs) / roundMs, MIN_GRADIENT, 1);
    const queueAllowance = Math.sqrt(limit);
    if (gradient < 1) {
      isSlowStart = false;
      limit = limit * (1 - SMOOTHING) + (limit * gradient + queueAllowance) * SMOOTHING;
    } else if (roundMaxInFlight >= limit / 2) {
      // Past slow start, one more per round trip (TCP Reno's congestion avoidance): a knee
      // found by a 429 is approached again gently, so the refusals at it stay rare.
      limit = isSlowStart ? limit * 2 : limit + 1;
    }
    limit = clamp(limit, MIN_LIMIT, ceiling);
    // The baseline follows the long-term latency, but only of rounds within tolerance: a queue
    // building up must not become the new normal.
    if (gradient === 1) {
      baselineMs += (roundMs - baselineMs) / LONG_WINDOW_ROUNDS;
    }
  }

  return {
    current: () => Math.max(MIN_LIMIT, Math.floor(limit)),
    record(sample, nowMs) {
      if (sample.outcome === "ignored") {
        return;
      }
      if (sample.outcome === "overload") {
        // Once per round trip, as TCP: the calls of one burst of refusals cut once.
        const roundTripMs = baselineMs ?? 0;
        if (sample.startedAtMs > lastCutAtMs && nowMs - lastCutAtMs >= roundTripMs) {
          limit = clamp(Math.min(limit, sample.inFlight) * BACKOFF, MIN_LIMIT, ceiling);
          isSlowStart = false;
          lastCutAtMs = nowMs;
          startRound(nowMs);
        }
        return;
      }
      if (roundStartedAtMs === null) {
        startRound(sample.startedAtMs);
      }
      roundSamples++;
      roundLatencySumMs += sample.latencyMs;
      roundMaxInFlight = Math.max(roundMaxInFlight, sample.inFlight);
      const roundStart = roundStartedAtMs ?? sample.startedAtMs;
      if (sample.startedAtMs >= roundStart && roundSamples >= MIN_ROUND_SAMPLES) {
        endRound();
        startRound(nowMs);
      }
    },
  };
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
