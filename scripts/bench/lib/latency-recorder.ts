/**
 * Every response time of a run, in milliseconds. autocannon's own histogram keeps whole
 * milliseconds, which reads a 0.4 ms bare-Hono median as "0"; recording the float it measures
 * (process.hrtime) and sorting once at the end costs 8 bytes a request and gives exact percentiles.
 */
export interface LatencyRecorder {
  record(ms: number): void;
  /** Nearest-rank percentile, e.g. percentile(99); 0 when nothing was recorded. */
  percentile(p: number): number;
  mean(): number;
  max(): number;
  readonly count: number;
}

export function createLatencyRecorder(initialCapacity = 1 << 16): LatencyRecorder {
  let values = new Float64Array(initialCapacity);
  let count = 0;
  let sorted: Float64Array | null = null;

  const ensureSorted = (): Float64Array => {
    sorted ??= values.slice(0, count).sort();
    return sorted;
  };

  return {
    record(ms) {
      if (count === values.length) {
        const grown = new Float64Array(values.length * 2);
        grown.set(values);
        values = grown;
      }
      values[count] = ms;
      count += 1;
      sorted = null;
    },
    percentile(p) {
      const all = ensureSorted();
      if (all.length === 0) {
        return 0;
      }
      const rank = Math.ceil((p / 100) * all.length);
      return all[Math.min(Math.max(rank, 1), all.length) - 1] ?? 0;
    },
    mean() {
      let sum = 0;
      for (let i = 0; i < count; i += 1) {
        sum += values[i] ?? 0;
      }
      return count === 0 ? 0 : sum / count;
    },
    max() {
      const all = ensureSorted();
      return all[all.length - 1] ?? 0;
    },
    get count() {
      return count;
    },
  };
}

/** The usual summary of a recorder, in milliseconds. */
export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export function percentilesOf(recorder: LatencyRecorder): Percentiles {
  return {
    p50: recorder.percentile(50),
    p90: recorder.percentile(90),
    p99: recorder.percentile(99),
    max: recorder.max(),
  };
}
