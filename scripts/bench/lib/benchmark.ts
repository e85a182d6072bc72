/**
 * One entry of the bench registry (run.ts). A benchmark starts whatever it needs, prints its own
 * figures, writes its JSON result, cleans up after itself, and says whether it met its targets.
 */
export interface Benchmark {
  /** The name on the command line (`npm run bench -- <name>`) and of its results file. */
  readonly name: string;
  readonly description: string;
  /**
   * How long a whole run may take before run.ts gives up on it (default 15 minutes). Every
   * request a bench makes has its own deadline; this is the backstop for a hang no deadline
   * covers. Exiting kills the bench's child servers and removes its temp dirs (exit hooks).
   */
  readonly timeLimitMs?: number;
  run(): Promise<BenchmarkOutcome>;
}

export interface BenchmarkOutcome {
  readonly isPass: boolean;
}
