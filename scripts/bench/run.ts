import { backgroundResponses } from "./background-responses.js";
import { batch50k } from "./batch-50k.js";
import { claimScan } from "./claim-scan.js";
import { fairness } from "./fairness.js";
import type { Benchmark } from "./lib/benchmark.js";
import { longPoll } from "./long-poll.js";
import { syncResponses } from "./sync-responses.js";
import { syncResponsesTools } from "./sync-responses-tools.js";
import { upstream } from "./upstream.js";
import { webhooks } from "./webhooks.js";

/**
 * `npm run bench` runs every benchmark in order; `npm run bench -- <name> [...]` runs only those.
 * Exits non-zero if any benchmark misses its targets or fails to run.
 *
 * Add a benchmark by writing scripts/bench/<name>.ts exporting a `Benchmark` and listing it here.
 */
const BENCHMARKS: readonly Benchmark[] = [
  syncResponses,
  syncResponsesTools,
  backgroundResponses,
  batch50k,
  longPoll,
  fairness,
  claimScan,
  upstream,
  webhooks,
];

const DEFAULT_TIME_LIMIT_MS = 15 * 60_000;

async function main(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h") || args.includes("--list")) {
    console.log("usage: npm run bench [-- <name> ...]\n\nbenchmarks:");
    for (const bench of BENCHMARKS) {
      console.log(`  ${bench.name.padEnd(20)} ${bench.description}`);
    }
    return 0;
  }
  const unknown = args.filter((name) => !BENCHMARKS.some((bench) => bench.name === name));
  if (unknown.length > 0) {
    console.error(
      `unknown benchmark: ${unknown.join(", ")}; known: ${BENCHMARKS.map((b) => b.name).join(", ")}`,
    );
    return 2;
  }
  const selected =
    args.length === 0 ? BENCHMARKS : BENCHMARKS.filter((bench) => args.includes(bench.name));

  const failed: string[] = [];
  for (const bench of selected) {
    console.log(`\n=== ${bench.name}: ${bench.description}`);
    const timeLimitMs = bench.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS;
    const watchdog = setTimeout(() => {
      console.error(
        `${bench.name} did not finish within ${timeLimitMs / 1000} s; stopping the bench run`,
      );
      process.exit(1);
    }, timeLimitMs);
    try {
      const outcome = await bench.run();
      if (!outcome.isPass) {
        failed.push(bench.name);
      }
    } catch (err) {
      // One broken bench should not hide the others' figures.
      console.error(`${bench.name} could not run:`, err instanceof Error ? err.message : err);
      failed.push(bench.name);
    } finally {
      clearTimeout(watchdog);
    }
  }
  console.log(
    failed.length === 0
      ? `\nbench: all ${selected.length} passed`
      : `\nbench: ${failed.length} of ${selected.length} failed: ${failed.join(", ")}`,
  );
  return failed.length === 0 ? 0 : 1;
}

// exit() rather than exitCode: a stray handle (a socket, a timer) must not keep the bench alive.
process.exit(await main(process.argv.slice(2)));
