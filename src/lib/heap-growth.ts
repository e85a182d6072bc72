import { setFlagsFromString } from "node:v8";

/**
 * Bounds how far V8 lets the heap grow past what is live before a full collection.
 *
 * ferry's live heap is small (~43 MB under a 50,000-line batch) but it allocates fast, and V8's
 * default on a machine with plenty of memory let garbage pile up to ~4x the live heap before
 * collecting: that batch peaked at ~300 MB RSS. Growing by at most half the live size keeps RSS
 * near what ferry holds (the same batch: ~220 MB) at the price of a few more incremental
 * collections; the benchmarks measured no throughput change.
 *
 * V8 reads the factor at every full collection, so setting it at start-up takes effect.
 * `percent` 0 leaves V8's default.
 */
export function boundHeapGrowth(percent: number): void {
  if (percent > 0) {
    setFlagsFromString(`--heap-growing-percent=${percent}`);
  }
}
