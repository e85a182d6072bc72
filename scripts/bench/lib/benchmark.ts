/**
 * One entry of the bench registry (run.ts). A benchmark starts whatever it needs, prints its own
 * figures, writes its JSON result, cleans up after itself, and says whether it met its targets.
 */
export interface Benchmark {
  /** The name on the command line (`npm run bench -- <name>`) and of its results file. */
  readonly name: string;
  readonly description: string;
  run(): Promise<BenchmarkOutcome>;
}

export interface BenchmarkOutcome {
  readonly isPass: boolean;
}
