import { rm } from "node:fs/promises";
import path from "node:path";
import { startBareHono } from "./lib/bare-hono.js";
import type { Benchmark } from "./lib/benchmark.js";
import type { ChildServer } from "./lib/child-server.js";
import { buildFerry, startFerry } from "./lib/ferry-server.js";
import { finishBenchmark } from "./lib/finish.js";
import {
  findLoadProblems,
  type LoadRequest,
  type LoadSummary,
  readLoadSeconds,
  runLoad,
} from "./lib/load.js";
import { PROFILES_DIR } from "./lib/paths.js";
import { type Check, describeMachine, fixed, formatMachine, formatTable } from "./lib/report.js";

/**
 * Sync `POST /v1/responses` throughput: ferry (mock backend, stored in SQLite) against a bare
 * Hono endpoint on the same machine in the same run, so the ratio cancels out machine speed.
 * Targets: ferry reaches at least 0.35 of the bare requests/s, with p99 under 20 ms.
 *
 * BENCH_CPU_PROF=1 also runs ferry under `node --cpu-prof` and prints its top self-time functions
 * (the profiler costs some throughput, so judge the targets on a run without it).
 */

const NAME = "sync-responses";
const CONNECTIONS = 32;
const MIN_RATIO = 0.35;
const MAX_P99_MS = 20;

const QUESTIONS = [
  "What is the capital of France?",
  "How do I reverse a list in Python?",
  "Explain HTTP keep-alive in one sentence.",
  "Give me three tips for writing clear commit messages.",
  "Why is the sky blue?",
  "What does a database index speed up?",
  "Suggest a name for a small ferry company.",
  "How long should I boil an egg?",
];

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
    const bare = await measure(startBareHono, seconds, isBareReply);
    const profileDir = path.join(PROFILES_DIR, NAME);
    if (isProfiling) {
      await rm(profileDir, { recursive: true, force: true });
    }
    const ferry = await measure(
      () =>
        startFerry({ nodeArgs: isProfiling ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [] }),
      seconds,
      isCompletedResponse,
    );

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
    console.log(`\nratio ferry/bare: ${fixed(ratio, 3)}`);
    await finishBenchmark(NAME, {
      checks,
      problems,
      profileDir: isProfiling ? profileDir : null,
      result: {
        machine,
        load: { connections: CONNECTIONS, ...seconds, requestVariants: REQUESTS.length },
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

/**
 * Starts one target, checks that it answers a real request correctly (a fast wrong answer is not
 * throughput), loads it, and always stops it, so only one server competes for the CPU at a time.
 */
async function measure(
  start: () => Promise<ChildServer>,
  seconds: { warmupSeconds: number; durationSeconds: number },
  isExpectedReply: (body: unknown) => boolean,
): Promise<LoadSummary> {
  const server = await start();
  try {
    await probe(server, isExpectedReply);
    console.log(`measuring ${server.name} (pid ${server.pid}) at ${server.url} ...`);
    return await runLoad({
      url: server.url,
      connections: CONNECTIONS,
      ...seconds,
      requests: REQUESTS,
      headers: HEADERS,
    });
  } finally {
    await server.stop();
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
