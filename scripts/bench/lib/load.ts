import autocannon from "autocannon";
import { createLatencyRecorder, type LatencyRecorder } from "./latency-recorder.js";
import { sleep } from "./sleep.js";

/**
 * Closed-loop HTTP load with autocannon: `connections` keep-alive connections, each sending its
 * next request as soon as the previous answer arrives. A warm-up run (JIT, SQLite page cache,
 * connection setup) is thrown away before the measured run.
 */

export interface LoadRequest {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly body?: string;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** Each connection cycles through these in order, so the server does not see one body only. */
  readonly requests: readonly LoadRequest[];
  readonly headers?: Record<string, string>;
  /** Seconds before autocannon counts a request as timed out. */
  readonly timeoutSeconds?: number;
}

/** What a bench reports for one target; latencies in milliseconds. */
export interface LoadSummary {
  readonly requestsPerSecond: number;
  readonly latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  readonly totalRequests: number;
  readonly durationSeconds: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadSummary> {
  if (options.warmupSeconds > 0) {
    await fire(options, options.warmupSeconds, createLatencyRecorder());
  }
  const latencies = createLatencyRecorder();
  return summarize(await fire(options, options.durationSeconds, latencies), latencies);
}

export interface InterleavedLoadOptions extends Omit<LoadOptions, "url"> {
  /**
   * Each target's measured time is split into this many rounds, the targets taking turns.
   * autocannon runs whole seconds, so a round lasts durationSeconds/rounds rounded (at least 1).
   */
  readonly rounds: number;
  /**
   * Pause before each turn, so work a target left behind (a WAL checkpoint, a GC) finishes
   * before the next target is measured instead of slowing it.
   */
  readonly settleMs: number;
}

/** One target's summary over every round, and its requests/s in each round. */
export interface InterleavedSummary extends LoadSummary {
  readonly roundRequestsPerSecond: readonly number[];
}

/**
 * Loads several targets (all running, only one loaded at a time) in turns: warm-up for each, then
 * `rounds` rounds in which each target gets durationSeconds/rounds. On a shared host the speed
 * available drifts over a run; taking turns lets the drift fall on every target alike, where
 * back-to-back runs put all of it on whichever target ran second and skew their ratio.
 */
export async function runInterleavedLoad(
  urls: readonly string[],
  options: InterleavedLoadOptions,
): Promise<InterleavedSummary[]> {
  return runInterleavedTargets(
    urls.map((url) => ({ url, requests: options.requests })),
    options,
  );
}

/** A target of an interleaved run: a server, and the requests it is loaded with. */
export interface LoadTarget {
  readonly url: string;
  readonly requests: readonly LoadRequest[];
}

/**
 * runInterleavedLoad with requests per target: two workloads on one server (say, plain and
 * tool-calling requests) take turns the same way two servers do.
 */
export async function runInterleavedTargets(
  targets: readonly LoadTarget[],
  options: Omit<InterleavedLoadOptions, "requests">,
): Promise<InterleavedSummary[]> {
  if (options.warmupSeconds > 0) {
    for (const target of targets) {
      await fire({ ...options, ...target }, options.warmupSeconds, createLatencyRecorder());
    }
  }
  const roundSeconds = roundSecondsFor(options);
  const perTarget = targets.map(() => ({
    latencies: createLatencyRecorder(),
    results: [] as autocannon.Result[],
  }));
  for (let round = 0; round < options.rounds; round += 1) {
    for (const [index, target] of targets.entries()) {
      await sleep(options.settleMs);
      const measured = perTarget[index];
      if (measured !== undefined) {
        measured.results.push(
          await fire({ ...options, ...target }, roundSeconds, measured.latencies),
        );
      }
    }
  }
  return perTarget.map(({ latencies, results }) => {
    const sum = (pick: (result: autocannon.Result) => number) =>
      results.reduce((total, result) => total + pick(result), 0);
    const totalRequests = sum((result) => result.requests.total);
    const durationSeconds = sum((result) => result.duration);
    return {
      requestsPerSecond: durationSeconds > 0 ? totalRequests / durationSeconds : 0,
      roundRequestsPerSecond: results.map((result) =>
        result.duration > 0 ? result.requests.total / result.duration : 0,
      ),
      latencyMs: latencySummary(latencies),
      totalRequests,
      durationSeconds,
      non2xx: sum((result) => result.non2xx),
      errors: sum((result) => result.errors),
      timeouts: sum((result) => result.timeouts),
    };
  });
}

/** Whole seconds per round (autocannon's duration is whole seconds). */
export function roundSecondsFor(options: { durationSeconds: number; rounds: number }): number {
  return Math.max(1, Math.round(options.durationSeconds / options.rounds));
}

// autocannon stops itself after `duration`; this only catches a run that never reports back.
const OVERRUN_GRACE_MS = 30_000;

function fire(
  options: LoadOptions,
  durationSeconds: number,
  latencies: LatencyRecorder,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: durationSeconds,
        timeout: options.timeoutSeconds ?? 10,
        headers: { "content-type": "application/json", ...options.headers },
        requests: options.requests.map((request) => ({ ...request })),
      },
      (err, result) => {
        clearTimeout(overrun);
        return err ? reject(err) : resolve(result);
      },
    );
    const overrun = setTimeout(
      () => {
        instance.stop();
        reject(
          new Error(`load on ${options.url} did not finish within ${durationSeconds} s + grace`),
        );
      },
      durationSeconds * 1000 + OVERRUN_GRACE_MS,
    );
    // Like autocannon's own histogram, only 2xx answers count towards latency.
    instance.on("response", (_client, statusCode, _bytes, responseTimeMs) => {
      if (statusCode >= 200 && statusCode < 300) {
        latencies.record(responseTimeMs);
      }
    });
  });
}

function latencySummary(latencies: LatencyRecorder): LoadSummary["latencyMs"] {
  return {
    p50: latencies.percentile(50),
    p90: latencies.percentile(90),
    p99: latencies.percentile(99),
    max: latencies.max(),
    mean: latencies.mean(),
  };
}

function summarize(result: autocannon.Result, latencies: LatencyRecorder): LoadSummary {
  return {
    // autocannon's mean of its per-second samples, the figure its own table prints.
    requestsPerSecond: result.requests.average,
    latencyMs: latencySummary(latencies),
    totalRequests: result.requests.total,
    durationSeconds: result.duration,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

/** Problems that make a run's figures untrustworthy, as sentences; empty when the run is clean. */
export function findLoadProblems(name: string, summary: LoadSummary): string[] {
  const problems: string[] = [];
  if (summary.non2xx > 0) {
    problems.push(`${name}: ${summary.non2xx} non-2xx responses`);
  }
  if (summary.errors > 0) {
    problems.push(
      `${name}: ${summary.errors} connection errors (${summary.timeouts} of them timeouts)`,
    );
  }
  if (summary.totalRequests === 0) {
    problems.push(`${name}: no requests completed`);
  }
  return problems;
}

/**
 * Warm-up and measured seconds: 3 and 10 unless BENCH_WARMUP_S / BENCH_DURATION_S say otherwise
 * (short runs while iterating on a fix; the targets are judged on the defaults).
 */
export function readLoadSeconds(env: NodeJS.ProcessEnv = process.env): {
  warmupSeconds: number;
  durationSeconds: number;
} {
  return {
    warmupSeconds: readSeconds(env.BENCH_WARMUP_S, 3),
    durationSeconds: readSeconds(env.BENCH_DURATION_S, 10),
  };
}

function readSeconds(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === "") {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`expected a number of seconds, got '${raw}'`);
  }
  return value;
}
