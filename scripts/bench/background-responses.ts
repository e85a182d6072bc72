import { rm } from "node:fs/promises";
import path from "node:path";
import { BENCH_MODEL, inputFor, submitBackground, waitUntilIdle } from "./lib/background-load.js";
import type { Benchmark } from "./lib/benchmark.js";
import { startFakeUpstream } from "./lib/fake-upstream.js";
import { buildFerry, type FerryServer, startFerry } from "./lib/ferry-server.js";
import { finishBenchmark } from "./lib/finish.js";
import { createHttpClient, type HttpClient } from "./lib/http-client.js";
import { createLatencyRecorder, type Percentiles, percentilesOf } from "./lib/latency-recorder.js";
import { PROFILES_DIR } from "./lib/paths.js";
import { readCpuSeconds } from "./lib/process-stats.js";
import { type Check, describeMachine, fixed, formatMachine, formatTable } from "./lib/report.js";
import { sleep } from "./lib/sleep.js";

/**
 * Background responses (issue 4), in two parts.
 *
 * Throughput: 5,000 `POST /v1/responses` with `background: true` from 32 concurrent clients
 * against ferry on the mock at zero delay, timed from the first submit to the moment all 5,000
 * are completed. Target: at least 1,500 completed per second end to end.
 *
 * How "all completed" is observed without measuring our own polling: nothing is polled while
 * submitting. Afterwards `GET /health` is polled every few ms until the mock's queue is empty and
 * nothing is in flight; an item leaves `in_flight` when its backend call returns and its result
 * is committed on the executor's next flush (a setImmediate later), so that moment is the end,
 * give or take a millisecond. One /health is a single COUNT query, so polling it costs ferry
 * next to nothing. Then a verification sweep, not timed, reads every response's status through
 * `GET /v1/responses?limit=100` pages (50 requests, not 5,000); anything not yet terminal is
 * polled by id until it is, and then the end moves to when the last one was seen completed.
 *
 * Overhead: ferry with an `openai` backend pointed at a fake upstream that answers at once,
 * against calling that upstream directly; 300 sequential requests each. Ferry's figure runs from
 * the submit to the first GET that shows `completed` (GETs back to back, one at a time). The p50
 * difference is what ferry adds. No target, reported only.
 *
 * BENCH_CPU_PROF=1 runs the throughput part's ferry under `node --cpu-prof` and prints its top
 * self-time functions (the profiler costs throughput: judge the target on a run without it).
 */

const NAME = "background-responses";
const MODEL = BENCH_MODEL;
const TOTAL = 5_000;
const CLIENTS = 32;
/** Submitted, run and discarded before the measured run (JIT, SQLite page cache, connections). */
const WARMUP_RESPONSES = 500;
const MIN_COMPLETED_PER_SECOND = 1_500;
const OVERHEAD_SAMPLES = 300;
const OVERHEAD_WARMUP = 30;
/** How long all submitted work may take to finish before the bench gives up. */
const SETTLE_TIMEOUT_MS = 120_000;
const HEALTH_POLL_MS = 2;
const PAGE_LIMIT = 100;
/** Responses polled by id at once after the sweep (normally none are left). */
const STRAGGLER_CONCURRENCY = 8;
/** One overhead sample (submit + polls) must finish within this. */
const SAMPLE_TIMEOUT_MS = 10_000;

const TERMINAL_STATUSES = new Set(["completed", "failed", "cancelled", "incomplete"]);

interface ResponseBody {
  readonly id: string;
  readonly status: string;
  readonly output?: unknown;
}

interface ResponsePage {
  readonly data: readonly ResponseBody[];
  readonly has_more: boolean;
  readonly last_id?: string | null;
}

interface ThroughputResult {
  readonly submitted: number;
  readonly submitErrors: string[];
  readonly submitSeconds: number;
  readonly submitsPerSecond: number;
  readonly submitLatencyMs: Percentiles;
  /** First submit to all completed. */
  readonly endToEndSeconds: number;
  readonly completedPerSecond: number;
  /** From the last submit's answer to all completed: the backlog the executor still had. */
  readonly drainAfterSubmitMs: number;
  readonly healthPolls: number;
  /**
   * ferry's CPU time (user + system) from the first submit to all completed. On a shared machine
   * the wall-clock figures move with other load; CPU per response much less.
   */
  readonly ferryCpuSeconds: number;
  readonly ferryCpuMsPerResponse: number;
  /** ferry's CPU time over the wall time: 1.0 means it had one core to itself and used it all. */
  readonly ferryCoreShare: number;
  /** The same for this bench process (the 32 clients): is the load generator the limit? */
  readonly benchCoreShare: number;
  /** The untimed verification: list pages read and how long they took. */
  readonly verification: { pages: number; ms: number; stragglers: number };
  readonly statuses: Record<string, number>;
  readonly missing: number;
}

interface OverheadResult {
  readonly samples: number;
  readonly directMs: Percentiles;
  readonly ferryMs: Percentiles;
  /** The POST alone (queueing the response). */
  readonly ferrySubmitMs: Percentiles;
  readonly meanPollsPerSample: number;
  readonly addedP50Ms: number;
  readonly addedP90Ms: number;
  readonly notCompleted: number;
}

export const backgroundResponses: Benchmark = {
  name: NAME,
  description: `${TOTAL} background responses from ${CLIENTS} clients; executor overhead vs direct upstream`,
  timeLimitMs: 10 * 60_000,
  async run() {
    const machine = describeMachine();
    const isProfiling = process.env.BENCH_CPU_PROF === "1";
    console.log(formatMachine(machine));
    await buildFerry();

    const profileDir = path.join(PROFILES_DIR, NAME);
    if (isProfiling) {
      await rm(profileDir, { recursive: true, force: true });
    }
    const ferry = await startFerry({
      nodeArgs: isProfiling ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
    });
    let throughput: ThroughputResult;
    try {
      console.log(
        `throughput: ferry (pid ${ferry.pid}) on the mock at zero delay; ${WARMUP_RESPONSES} warm-up responses (discarded), then ${TOTAL} from ${CLIENTS} clients ...`,
      );
      throughput = await measureThroughput(ferry);
    } finally {
      await ferry.stop();
    }

    console.log(
      `overhead: ${OVERHEAD_SAMPLES} sequential calls direct to a fake upstream, then ${OVERHEAD_SAMPLES} background responses through ferry to it ...`,
    );
    const overhead = await measureOverhead();

    const completedCount = throughput.statuses.completed ?? 0;
    const problems: string[] = [];
    if (throughput.submitErrors.length > 0) {
      problems.push(
        `${throughput.submitErrors.length} submits failed, e.g. ${throughput.submitErrors[0]}`,
      );
    }
    if (overhead.notCompleted > 0) {
      problems.push(`overhead: ${overhead.notCompleted} responses did not end completed`);
    }
    const checks: Check[] = [
      {
        label: `completed/s end to end ${fixed(throughput.completedPerSecond, 0)} >= ${MIN_COMPLETED_PER_SECOND}`,
        isPass: throughput.completedPerSecond >= MIN_COMPLETED_PER_SECOND,
      },
      {
        label: `all ${TOTAL} ended completed (completed ${completedCount}, other ${TOTAL - completedCount})`,
        isPass: completedCount === TOTAL && throughput.submitErrors.length === 0,
      },
      {
        label: `overhead run: all ${OVERHEAD_SAMPLES} ended completed`,
        isPass: overhead.notCompleted === 0,
      },
    ];
    const isPass = checks.every((check) => check.isPass);

    console.log("");
    console.log(
      formatTable(
        ["throughput", "value"],
        [
          ["responses", String(TOTAL)],
          ["submit phase s", fixed(throughput.submitSeconds, 3)],
          ["submits/s", fixed(throughput.submitsPerSecond, 0)],
          [
            "submit latency p50 / p90 / p99 ms",
            `${fixed(throughput.submitLatencyMs.p50)} / ${fixed(throughput.submitLatencyMs.p90)} / ${fixed(throughput.submitLatencyMs.p99)}`,
          ],
          ["first submit -> all completed s", fixed(throughput.endToEndSeconds, 3)],
          ["completed/s end to end", fixed(throughput.completedPerSecond, 0)],
          ["last submit -> all completed ms", fixed(throughput.drainAfterSubmitMs, 1)],
          [
            "ferry CPU s (ms per response, share of a core)",
            `${fixed(throughput.ferryCpuSeconds)} (${fixed(throughput.ferryCpuMsPerResponse, 3)}, ${fixed(throughput.ferryCoreShare)})`,
          ],
          ["bench process share of a core", fixed(throughput.benchCoreShare)],
          ["statuses", formatStatuses(throughput.statuses, throughput.missing)],
          [
            "verification (untimed)",
            `${throughput.verification.pages} list pages in ${fixed(throughput.verification.ms, 0)} ms, ${throughput.verification.stragglers} polled by id`,
          ],
        ],
      ),
    );
    console.log("");
    console.log(
      formatTable(
        ["overhead (sequential)", "p50 ms", "p90 ms", "p99 ms", "max ms"],
        [
          percentileRow("direct upstream call", overhead.directMs),
          percentileRow("ferry submit -> completed", overhead.ferryMs),
          percentileRow("  of which the POST", overhead.ferrySubmitMs),
        ],
      ),
    );
    console.log(
      `\nferry's added latency: p50 ${fixed(overhead.addedP50Ms)} ms, p90 ${fixed(overhead.addedP90Ms)} ms ` +
        `(GETs per sample: ${fixed(overhead.meanPollsPerSample, 1)} on average; no target)`,
    );
    await finishBenchmark(NAME, {
      checks,
      problems,
      profileDir: isProfiling ? profileDir : null,
      result: {
        machine,
        load: {
          responses: TOTAL,
          clients: CLIENTS,
          warmupResponses: WARMUP_RESPONSES,
          model: MODEL,
          backend: "mock, zero delay",
          completionObservedBy: "GET /health idle (queued 0, in_flight 0), verified by list pages",
        },
        isProfiling,
        targets: { minCompletedPerSecond: MIN_COMPLETED_PER_SECOND },
        throughput,
        overhead,
        problems,
        checks,
        pass: isPass,
      },
    });
    return { isPass };
  },
};

async function measureThroughput(ferry: FerryServer): Promise<ThroughputResult> {
  const client = createHttpClient(ferry.url, { maxSockets: CLIENTS + 8 });
  try {
    await probe(client);
    const warmup = await submitBackground(client, {
      count: WARMUP_RESPONSES,
      offset: TOTAL,
      clients: CLIENTS,
    });
    if (warmup.errors.length > 0) {
      throw new Error(`warm-up submits failed, e.g. ${warmup.errors[0]}`);
    }
    await waitUntilIdle(client, SETTLE_TIMEOUT_MS);

    const cpuBefore = readCpuSeconds(ferry.pid);
    const benchCpuBefore = process.cpuUsage();
    const run = await submitBackground(client, { count: TOTAL, offset: 0, clients: CLIENTS });
    const idle = await waitUntilIdle(client, SETTLE_TIMEOUT_MS);
    const ferryCpuSeconds = readCpuSeconds(ferry.pid) - cpuBefore;
    const benchCpu = process.cpuUsage(benchCpuBefore);
    const wallSeconds = (idle.at - run.startedAt) / 1000;
    const verified = await verifyStatuses(client, run.ids, idle.at);

    const endToEndMs = verified.allDoneAt - run.startedAt;
    const submitMs = run.endedAt - run.startedAt;
    return {
      submitted: run.ids.length,
      submitErrors: run.errors,
      submitSeconds: submitMs / 1000,
      submitsPerSecond: (run.ids.length * 1000) / submitMs,
      submitLatencyMs: percentilesOf(run.latencies),
      endToEndSeconds: endToEndMs / 1000,
      completedPerSecond: ((verified.statuses.completed ?? 0) * 1000) / endToEndMs,
      drainAfterSubmitMs: verified.allDoneAt - run.endedAt,
      healthPolls: idle.polls,
      ferryCpuSeconds,
      ferryCpuMsPerResponse: (ferryCpuSeconds * 1000) / TOTAL,
      ferryCoreShare: ferryCpuSeconds / wallSeconds,
      benchCoreShare: (benchCpu.user + benchCpu.system) / 1e6 / wallSeconds,
      verification: { pages: verified.pages, ms: verified.ms, stragglers: verified.stragglers },
      statuses: verified.statuses,
      missing: verified.missing,
    };
  } finally {
    client.close();
  }
}

/** One background response all the way through, so that a broken server fails fast and clearly. */
async function probe(client: HttpClient): Promise<void> {
  const body = await submitOne(client, "Is this thing on?");
  const deadline = performance.now() + SAMPLE_TIMEOUT_MS;
  let status = body.status;
  while (!TERMINAL_STATUSES.has(status)) {
    if (performance.now() > deadline) {
      throw new Error(`probe response ${body.id} still '${status}' after ${SAMPLE_TIMEOUT_MS} ms`);
    }
    status = (await client.json<ResponseBody>("GET", `/v1/responses/${body.id}`)).status;
  }
  if (status !== "completed") {
    throw new Error(`probe response ${body.id} ended '${status}'`);
  }
}

async function submitOne(client: HttpClient, input: string): Promise<ResponseBody> {
  return client.json<ResponseBody>("POST", "/v1/responses", {
    body: { model: MODEL, input, background: true },
  });
}

/**
 * Every id's status from the newest-first list (the measured responses are the newest), then
 * any that is not terminal yet polled by id. `allDoneAt` is `idleAt` unless a straggler was
 * seen finishing later.
 */
async function verifyStatuses(
  client: HttpClient,
  ids: readonly string[],
  idleAt: number,
): Promise<{
  statuses: Record<string, number>;
  missing: number;
  allDoneAt: number;
  pages: number;
  ms: number;
  stragglers: number;
}> {
  const startedAt = performance.now();
  const wanted = new Set(ids);
  const statusById = new Map<string, string>();
  let after: string | null = null;
  let pages = 0;
  while (statusById.size < wanted.size) {
    const query: string = after === null ? "" : `&after=${after}`;
    const page: ResponsePage = await client.json<ResponsePage>(
      "GET",
      `/v1/responses?limit=${PAGE_LIMIT}${query}`,
    );
    pages += 1;
    for (const response of page.data) {
      if (wanted.has(response.id)) {
        statusById.set(response.id, response.status);
      }
    }
    const last = page.data[page.data.length - 1];
    if (!page.has_more || last === undefined) {
      break;
    }
    after = last.id;
  }
  const listMs = performance.now() - startedAt;

  // Not listed, or listed before its end: poll each until it is terminal.
  const stragglers = ids.filter((id) => !TERMINAL_STATUSES.has(statusById.get(id) ?? ""));
  let allDoneAt = idleAt;
  let missing = 0;
  let next = 0;
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  await Promise.all(
    Array.from({ length: Math.min(STRAGGLER_CONCURRENCY, stragglers.length) }, async () => {
      for (let index = next++; index < stragglers.length; index = next++) {
        const id = stragglers[index] ?? "";
        for (;;) {
          const reply = await client.request("GET", `/v1/responses/${id}`);
          if (reply.status === 404) {
            missing += 1;
            break;
          }
          const status = (JSON.parse(reply.text) as ResponseBody).status;
          statusById.set(id, status);
          if (TERMINAL_STATUSES.has(status)) {
            allDoneAt = Math.max(allDoneAt, performance.now());
            break;
          }
          if (performance.now() > deadline) {
            break;
          }
          await sleep(HEALTH_POLL_MS);
        }
      }
    }),
  );
  const statuses: Record<string, number> = {};
  for (const id of ids) {
    const status = statusById.get(id);
    if (status !== undefined) {
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  }
  return {
    statuses,
    missing,
    allDoneAt,
    pages,
    ms: listMs,
    stragglers: stragglers.length,
  };
}

async function measureOverhead(): Promise<OverheadResult> {
  const upstream = await startFakeUpstream();
  try {
    const direct = createHttpClient(upstream.url, { maxSockets: 2 });
    const directMs = createLatencyRecorder(OVERHEAD_SAMPLES);
    try {
      for (let index = 0; index < OVERHEAD_WARMUP + OVERHEAD_SAMPLES; index += 1) {
        const reply = await direct.request("POST", "/v1/chat/completions", {
          body: {
            model: MODEL,
            messages: [{ role: "user", content: inputFor(index) }],
            stream: false,
          },
        });
        if (reply.status !== 200) {
          throw new Error(`fake upstream answered ${reply.status}: ${reply.text.slice(0, 300)}`);
        }
        if (index >= OVERHEAD_WARMUP) {
          directMs.record(reply.elapsedMs);
        }
      }
    } finally {
      direct.close();
    }

    const ferry = await startFerry({
      config: {
        backends: [
          {
            name: "up",
            type: "openai",
            base_url: `${upstream.url}/v1`,
            models: ["*"],
            max_concurrency: 64,
          },
        ],
      },
    });
    const client = createHttpClient(ferry.url, { maxSockets: 2 });
    try {
      await probeUpstreamPath(client);
      const ferryMs = createLatencyRecorder(OVERHEAD_SAMPLES);
      const ferrySubmitMs = createLatencyRecorder(OVERHEAD_SAMPLES);
      let polls = 0;
      let notCompleted = 0;
      for (let index = 0; index < OVERHEAD_WARMUP + OVERHEAD_SAMPLES; index += 1) {
        const sample = await submitAndAwait(client, inputFor(index));
        if (index < OVERHEAD_WARMUP) {
          continue;
        }
        ferryMs.record(sample.totalMs);
        ferrySubmitMs.record(sample.submitMs);
        polls += sample.polls;
        if (sample.status !== "completed") {
          notCompleted += 1;
        }
      }
      const directP = percentilesOf(directMs);
      const ferryP = percentilesOf(ferryMs);
      return {
        samples: OVERHEAD_SAMPLES,
        directMs: directP,
        ferryMs: ferryP,
        ferrySubmitMs: percentilesOf(ferrySubmitMs),
        meanPollsPerSample: polls / OVERHEAD_SAMPLES,
        addedP50Ms: ferryP.p50 - directP.p50,
        addedP90Ms: ferryP.p90 - directP.p90,
        notCompleted,
      };
    } finally {
      client.close();
      await ferry.stop();
    }
  } finally {
    await upstream.stop();
  }
}

/** Checks that ferry's answers really come from the fake upstream, not from a mock. */
async function probeUpstreamPath(client: HttpClient): Promise<void> {
  const sample = await submitAndAwait(client, "Is this thing on?");
  if (sample.status !== "completed") {
    throw new Error(`probe through the fake upstream ended '${sample.status}'`);
  }
  if (!JSON.stringify(sample.output).includes("The capital of France is Paris.")) {
    throw new Error(
      `probe answer did not come from the fake upstream: ${JSON.stringify(sample.output)}`,
    );
  }
}

/** Submits one background response, then GETs it back to back until it is terminal. */
async function submitAndAwait(
  client: HttpClient,
  input: string,
): Promise<{ totalMs: number; submitMs: number; polls: number; status: string; output: unknown }> {
  const startedAt = performance.now();
  const submitted = await submitOne(client, input);
  const submitMs = performance.now() - startedAt;
  let polls = 0;
  let body: ResponseBody = submitted;
  while (!TERMINAL_STATUSES.has(body.status)) {
    if (performance.now() - startedAt > SAMPLE_TIMEOUT_MS) {
      throw new Error(`${submitted.id} still '${body.status}' after ${SAMPLE_TIMEOUT_MS} ms`);
    }
    body = await client.json<ResponseBody>("GET", `/v1/responses/${submitted.id}`);
    polls += 1;
  }
  return {
    totalMs: performance.now() - startedAt,
    submitMs,
    polls,
    status: body.status,
    output: body.output,
  };
}

function percentileRow(label: string, p: Percentiles): string[] {
  return [label, fixed(p.p50), fixed(p.p90), fixed(p.p99), fixed(p.max)];
}

function formatStatuses(statuses: Record<string, number>, missing: number): string {
  const parts = Object.entries(statuses).map(([status, count]) => `${status} ${count}`);
  if (missing > 0) {
    parts.push(`missing ${missing}`);
  }
  return parts.join(", ");
}
