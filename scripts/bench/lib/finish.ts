import path from "node:path";
import { printProfile } from "./cpu-profile.js";
import { type Check, formatChecks, writeResult } from "./report.js";

/**
 * The common end of every benchmark: print its problems and PASS/FAIL lines, ferry's CPU profile
 * when one was taken, and write the figures to .bench/results/<name>.json.
 */
export async function finishBenchmark(
  name: string,
  report: {
    readonly checks: readonly Check[];
    readonly problems?: readonly string[];
    /** The --cpu-prof directory when profiling, else null. */
    readonly profileDir: string | null;
    /** The benchmark's own figures; `benchmark` and `date` are added. */
    readonly result: Record<string, unknown>;
  },
): Promise<void> {
  for (const problem of report.problems ?? []) {
    console.log(`problem: ${problem}`);
  }
  console.log(formatChecks(report.checks));
  if (report.profileDir !== null) {
    await printProfile(report.profileDir);
  }
  const file = await writeResult(name, {
    benchmark: name,
    date: new Date().toISOString(),
    ...report.result,
  });
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}
