/**
 * The concurrency limit an upstream can take, found from what its calls show: a pure state
 * machine fed with samples (one per finished call) and the time, so tests drive it exactly.
 *
 * The algorithm is Netflix's Gradient2 (concurrency-limits, `Gradient2Limit`:
 * https://github.com/Netflix/concurrency-limits) on a baseline measured as TCP Vegas measures
 * BaseRTT (Brakmo & Peterson, "TCP Vegas: End to End Congestion Avoidance on a Global Internet",
 * IEEE JSAC 1995) and refreshed as BBR's ProbeRTT does (Cardwell et al., "BBR: Congestion-Based
 * Congestion Control", ACM Queue 2016), with TCP's slow start, additive increase and
 * multiplicative decrease on loss (RFC 5681) for overload answers:
 *
 * - Rounds: samples are summed until a call that started after the round began has ended (one
 *   round trip has passed) and at least MIN_ROUND_SAMPLES calls are in; the round's mean latency
 *   is then compared with the baseline, the fastest of the last BASELINE_ROUNDS rounds.
 * - gradient = clamp(tolerance × baseline / round latency, 0.5, 1): 1 while latency stays within
 *   `tolerance` (1.5, Gradient2's) of the baseline (an inference server whose batch still has room), below 1
 *   once calls queue up (past the knee, every call added makes every call slower).
 * - gradient < 1: limit ← limit × (1 − smoothing) + limit × gradient × smoothing (Gradient2's
 *   update, the √limit being its queue allowance), and slow start ends; but only when more calls
 *   were in flight than in the baseline's round: a round slower with no more calls in flight is
 *   not a queue of ours at the upstream (ferry's own event loop on a busy host, a noisy
 *   neighbour, longer answers) and must not sink the limit.
 * - gradient = 1, and the calls did fill at least half the limit: slow start doubles it per round;
 *   after slow start it grows by one per round (Reno's additive increase). A round that did not
 *   fill half the limit says nothing about a higher one (Gradient2's "app-limited" rule), so an
 *   idle backend does not drift up to the ceiling and then burst.
 * - Every PROBE_EVERY_ROUNDS rounds one round runs at half the limit, so the queue the limit keeps
 *   at the upstream drains and the baseline is measured afresh; without it, under constant load
 *   the fastest round creeps up with the load and the limit with it. A baseline that comes out
 *   higher than tolerance allows means the upstream itself got slower: slow start again.
 * - An overload answer (429, 503, connection refused) cuts the limit at once to
 *   min(limit, calls in flight) × BACKOFF and ends slow start; as TCP cuts once per window of
 *   loss, only a call started after the last cut, and a round trip after it, cuts again: the 96
 *   calls in flight when a 429 burst began cut once.
 *
 * Why it starts low (INITIAL_LIMIT, at most the ceiling) and slow-starts: an unknown upstream
 * sent max_concurrency calls at once may answer a burst of 429s (or fall over) before the first
 * sample says anything; doubling per round trip reaches a ceiling of 128 from 8 in four rounds,
 * a fraction of a second on a fast upstream, while a small server never sees the ceiling at once.
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
  /** The limit in force now: a whole number within 1..ceiling (lower during a probe round). */
  current(): number;
  /** The limit found, probe rounds aside: what /health shows. */
  estimate(): number;
  /** Feeds one finished call; `nowMs` is when it finished. */
  record(sample: LimitSample, nowMs: number): void;
}

export const INITIAL_LIMIT = 8;
const MIN_LIMIT = 1;
const MIN_ROUND_SAMPLES = 16;
/** The baseline is the fastest of this many recent rounds (a probe's among them). */
const BASELINE_ROUNDS = 50;
/**
 * Every this many rounds one round runs at PROBE_SHARE of the limit, so the queue the limit
 * itself keeps at the upstream drains and the baseline is measured afresh (BBR's ProbeRTT): with
 * every round under load, the fastest of them creeps up with the load, and the limit with it.
 */
const PROBE_EVERY_ROUNDS = 40;
const PROBE_SHARE = 0.5;
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
  const recentRounds: { latencyMs: number; inFlight: number }[] = [];
  /** The most calls in flight in the baseline's round. */
  let baselineInFlight = 0;
  let lastCutAtMs = Number.NEGATIVE_INFINITY;
  let roundsSinceProbe = 0;
  /** While probing: the lower limit the probe round runs at (see PROBE_EVERY_ROUNDS). */
  let probeLimit: number | null = null;
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

  function rememberRound(roundMs: number) {
    recentRounds.push({ latencyMs: roundMs, inFlight: roundMaxInFlight });
    if (recentRounds.length > BASELINE_ROUNDS) {
      recentRounds.shift();
    }
    const previousBaselineMs = baselineMs;
    let fastest = recentRounds[0] as { latencyMs: number; inFlight: number };
    for (const round of recentRounds) {
      if (round.latencyMs < fastest.latencyMs) {
        fastest = round;
      }
    }
    baselineMs = fastest.latencyMs;
    baselineInFlight = fastest.inFlight;
    if (previousBaselineMs !== null && baselineMs > previousBaselineMs * tolerance) {
      // Even the best recent round (a probe's among them) is slower than the old baseline
      // allowed: the upstream itself got slower (longer prompts, a GPU shared with others).
      // What the limit learnt is stale: find it again from here, fast.
      isSlowStart = true;
    }
    return baselineMs;
  }

  function endRound() {
    const roundMs = roundLatencySumMs / roundSamples;
    if (probeLimit !== null) {
      // The probe round measured the upstream with a short queue; the limit resumes as it was.
      rememberRound(roundMs);
      probeLimit = null;
      return;
    }
    const baseline = rememberRound(roundMs);
    const gradient = clamp((tolerance * baseline) / roundMs, MIN_GRADIENT, 1);
    // Slower with no more calls in flight than the baseline round had: not a queue of ours at
    // the upstream (ferry's own event loop, a noisy neighbour, a longer answer); it must not
    // bring the limit down, or the limit would sink for ever on a busy host.
    const isOurQueue = roundMaxInFlight > baselineInFlight;
    if (gradient < 1 && isOurQueue) {
      isSlowStart = false;
      limit = limit * (1 - SMOOTHING) + (limit * gradient + Math.sqrt(limit)) * SMOOTHING;
    } else if (gradient === 1 && roundMaxInFlight >= limit / 2) {
      // Past slow start, one more per round trip (TCP Reno's congestion avoidance): a knee
      // is approached again gently, so the queueing (or the refusals) at it stay small.
      limit = isSlowStart ? limit * 2 : limit + 1;
    }
    limit = clamp(limit, MIN_LIMIT, ceiling);
    roundsSinceProbe++;
    if (roundsSinceProbe >= PROBE_EVERY_ROUNDS && !isSlowStart) {
      roundsSinceProbe = 0;
      probeLimit = Math.max(MIN_LIMIT, Math.floor(limit * PROBE_SHARE));
    }
  }

  return {
    current: () => Math.max(MIN_LIMIT, Math.floor(probeLimit ?? limit)),
    estimate: () => Math.max(MIN_LIMIT, Math.floor(limit)),
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
          probeLimit = null;
          lastCutAtMs = nowMs;
          startRound(nowMs);
        }
        return;
      }
      if (probeLimit !== null && sample.inFlight > probeLimit) {
        return; // started before the probe: its latency has the old queue in it
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
