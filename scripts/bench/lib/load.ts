import autocannon from "autocannon";
import { createLatencyRecorder, type LatencyRecorder } from "./latency-recorder.js";

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

function summarize(result: autocannon.Result, latencies: LatencyRecorder): LoadSummary {
  return {
    // autocannon's mean of its per-second samples, the figure its own table prints.
    requestsPerSecond: result.requests.average,
    latencyMs: {
      p50: latencies.percentile(50),
      p90: latencies.percentile(90),
      p99: latencies.percentile(99),
      max: latencies.max(),
      mean: latencies.mean(),
    },
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
