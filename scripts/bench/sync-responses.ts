import { rm } from "node:fs/promises";
import path from "node:path";
import { startBareHono } from "./lib/bare-hono.js";
import type { Benchmark } from "./lib/benchmark.js";
import type { ChildServer } from "./lib/child-server.js";
import { buildFerry, startFerry } from "./lib/ferry-server.js";
import { finishBenchmark } from "./lib/finish.js";
import {
  findLoadProblems,
  type InterleavedSummary,
  type LoadRequest,
  type LoadSummary,
  readLoadSeconds,
  roundSecondsFor,
  runInterleavedLoad,
} from "./lib/load.js";
import { PROFILES_DIR } from "./lib/paths.js";
import { QUESTIONS } from "./lib/questions.js";
import { type Check, describeMachine, fixed, formatMachine, formatTable } from "./lib/report.js";

/**
 * Sync `POST /v1/responses` throughput: ferry (mock backend, stored in SQLite) against a bare
 * Hono endpoint on the same machine in the same run, so the ratio cancels out machine speed.
 * Targets: ferry reaches at least 0.35 of the bare requests/s, with p99 under 20 ms.
 *
 * The two take turns (ROUNDS rounds, see runInterleavedLoad): on a shared host the speed
 * available drifts by tens of percent within a minute, and back-to-back runs would put that
 * drift into the ratio. The ratio is ferry's requests over bare's, over all rounds.
 *
 * BENCH_CPU_PROF=1 also runs ferry under `node --cpu-prof` and prints its top self-time functions
 * (the profiler costs some throughput, so judge the targets on a run without it).
 */

const NAME = "sync-responses";
const CONNECTIONS = 32;
const MIN_RATIO = 0.35;
const MAX_P99_MS = 20;
const ROUNDS = 5;

const REQUESTS: LoadRequest[] = QUESTIONS.map((input) => ({
  method: "POST",
  path: "/v1/responses",
  body: JSON.stringify({ model: "gpt-4o-mini", input }),
}));

const PROBE_BODY = JSON.stringify({ model: "gpt-4o-mini", input: "Is this thing on?" });

// What the openai SDK sends; ferry accepts any key while none are configured.
const HEADERS = { authorization: "Bearer sk-bench" };

export const syncResponses: Benchmark = {
  name: NAME,
  description: `sync POST /v1/responses at ${CONNECTIONS} connections, ferry vs bare Hono`,
  async run() {
    const machine = describeMachine();
    const seconds = readLoadSeconds();
    const isProfiling = process.env.BENCH_CPU_PROF === "1";
    console.log(formatMachine(machine));
    console.log(
      `load: ${CONNECTIONS} connections, ${seconds.warmupSeconds} s warm-up (discarded) + ${seconds.durationSeconds} s measured, per target`,
    );

    await buildFerry();
    const profileDir = path.join(PROFILES_DIR, NAME);
    if (isProfiling) {
      await rm(profileDir, { recursive: true, force: true });
    }
    const [bare, ferry] = await measureInTurns(
      [
        { start: startBareHono, isExpectedReply: isBareReply },
        {
          start: () =>
            startFerry({
              nodeArgs: isProfiling ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
            }),
          isExpectedReply: isCompletedResponse,
        },
      ],
      seconds,
    );
    if (bare === undefined || ferry === undefined) {
      throw new Error("expected a summary for each target");
    }

    const ratio = ferry.requestsPerSecond / bare.requestsPerSecond;
    const problems = [...findLoadProblems("bare-hono", bare), ...findLoadProblems("ferry", ferry)];
    const checks: Check[] = [
      { label: `ratio ferry/bare ${fixed(ratio, 3)} >= ${MIN_RATIO}`, isPass: ratio >= MIN_RATIO },
      {
        label: `ferry p99 ${fixed(ferry.latencyMs.p99)} ms < ${MAX_P99_MS} ms`,
        isPass: ferry.latencyMs.p99 < MAX_P99_MS,
      },
      { label: "no non-2xx responses, errors or timeouts", isPass: problems.length === 0 },
    ];
    const isPass = checks.every((check) => check.isPass);

    console.log("");
    console.log(
      formatTable(
        [
          "target",
          "req/s",
          "p50 ms",
          "p90 ms",
          "p99 ms",
          "max ms",
          "requests",
          "non-2xx",
          "errors",
          "timeouts",
        ],
        [row("bare-hono", bare), row("ferry", ferry)],
      ),
    );
    console.log("");
    console.log(
      formatTable(
        ["round", "bare req/s", "ferry req/s", "ratio"],
        bare.roundRequestsPerSecond.map((bareRate, index) => {
          const ferryRate = ferry.roundRequestsPerSecond[index] ?? 0;
          return [
            String(index + 1),
            fixed(bareRate, 0),
            fixed(ferryRate, 0),
            fixed(bareRate > 0 ? ferryRate / bareRate : 0, 3),
          ];
        }),
      ),
    );
    console.log(`\nratio ferry/bare (all rounds): ${fixed(ratio, 3)}`);
    await finishBenchmark(NAME, {
      checks,
      problems,
      profileDir: isProfiling ? profileDir : null,
      result: {
        machine,
        load: {
          connections: CONNECTIONS,
          ...seconds,
          rounds: ROUNDS,
          requestVariants: REQUESTS.length,
        },
        isProfiling,
        targets: { minRatio: MIN_RATIO, maxP99Ms: MAX_P99_MS },
        bare,
        ferry,
        ratio,
        problems,
        checks,
        pass: isPass,
      },
    });
    return { isPass };
  },
};

interface Target {
  readonly start: () => Promise<ChildServer>;
  /** A fast wrong answer is not throughput: each target must first answer a real request right. */
  readonly isExpectedReply: (body: unknown) => boolean;
}

/**
 * Starts every target, probes each, loads them in turns, and always stops them. Only the target
 * being loaded does any work; the other sits idle on its port.
 */
async function measureInTurns(
  targets: readonly Target[],
  seconds: { warmupSeconds: number; durationSeconds: number },
): Promise<InterleavedSummary[]> {
  const servers: ChildServer[] = [];
  try {
    for (const target of targets) {
      const server = await target.start();
      servers.push(server);
      await probe(server, target.isExpectedReply);
      console.log(`started ${server.name} (pid ${server.pid}) at ${server.url}`);
    }
    console.log(
      `measuring in ${ROUNDS} rounds of ${roundSecondsFor({ ...seconds, rounds: ROUNDS })} s per target ...`,
    );
    return await runInterleavedLoad(
      servers.map((server) => server.url),
      {
        connections: CONNECTIONS,
        ...seconds,
        rounds: ROUNDS,
        settleMs: 1000,
        requests: REQUESTS,
        headers: HEADERS,
      },
    );
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

async function probe(
  server: ChildServer,
  isExpectedReply: (body: unknown) => boolean,
): Promise<void> {
  const res = await fetch(`${server.url}/v1/responses`, {
    method: "POST",
    headers: { "content-type": "application/json", ...HEADERS },
    body: PROBE_BODY,
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok || !isExpectedReply(body)) {
    throw new Error(
      `${server.name}: unexpected reply to the probe request: ${res.status} ${text.slice(0, 500)}`,
    );
  }
}

function isBareReply(body: unknown): boolean {
  return readField(body, "object") === "response";
}

function isCompletedResponse(body: unknown): boolean {
  return readField(body, "object") === "response" && readField(body, "status") === "completed";
}

function readField(body: unknown, key: string): unknown {
  return typeof body === "object" && body !== null
    ? (body as Record<string, unknown>)[key]
    : undefined;
}

function row(name: string, summary: LoadSummary): string[] {
  return [
    name,
    fixed(summary.requestsPerSecond, 0),
    fixed(summary.latencyMs.p50),
    fixed(summary.latencyMs.p90),
    fixed(summary.latencyMs.p99),
    fixed(summary.latencyMs.max),
    String(summary.totalRequests),
    String(summary.non2xx),
    String(summary.errors),
    String(summary.timeouts),
  ];
}
