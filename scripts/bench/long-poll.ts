import { setMaxListeners } from "node:events";
import { rm } from "node:fs/promises";
import path from "node:path";
import type { Benchmark } from "./lib/benchmark.js";
import {
  buildFerry,
  type FerryServer,
  type StartFerryOptions,
  startFerry,
} from "./lib/ferry-server.js";
import { finishBenchmark } from "./lib/finish.js";
import { createHttpClient, type HttpClient, type HttpReply } from "./lib/http-client.js";
import { createLatencyRecorder, type Percentiles, percentilesOf } from "./lib/latency-recorder.js";
import { PROFILES_DIR } from "./lib/paths.js";
import {
  readCpuSeconds,
  readMemoryBytes,
  readOpenFileLimit,
  startRssSampler,
  toMegabytes,
} from "./lib/process-stats.js";
import { type Check, describeMachine, fixed, formatMachine, formatTable } from "./lib/report.js";
import { sleep } from "./lib/sleep.js";

/**
 * Stream long-polls (issue 6), against ferry on the mock at zero delay.
 *
 * (a) Wake latency: a long-poll `GET /v1/streams/{id}/events?starting_after=<cursor>&wait_ms=10000`
 * is started and given 20 ms to be really waiting; then a deferred response joins the stream
 * (`POST /v1/responses` with `metadata.stream_id`), timed from just before that POST to the
 * long-poll's answer. 300 rounds after 20 discarded. Targets: p50 < 25 ms, p99 < 100 ms.
 *
 * (b) 2,000 idle long-polls (`wait_ms=30000` on a stream that gets no items) held for 20 s, on a
 * fresh ferry. ferry's CPU over those 20 s (utime + stime from /proc, as a share of one core)
 * and its RSS above what it was before the polls opened. Targets: < 5% of a core, < 100 MB.
 *
 * ferry runs with `limits.max_concurrent_long_polls` raised to 5,000 (the default of 100 per key
 * would refuse most of the 2,000); if the config schema rejects that key, ferry runs without it
 * and the report says so.
 *
 * BENCH_CPU_PROF=1 runs part (b)'s ferry under `node --cpu-prof` (where the idle cost would be).
 */

const NAME = "long-poll";
const MODEL = "gpt-4o-mini";
const WAKE_ROUNDS = 300;
const WAKE_WARMUP_ROUNDS = 20;
const WAKE_WAIT_MS = 10_000;
/** Time given to a long-poll to reach its wait before the response is submitted. */
const SETTLE_BEFORE_SUBMIT_MS = 20;
const MAX_WAKE_P50_MS = 25;
const MAX_WAKE_P99_MS = 100;
/** More misses than this and the figures mean nothing: stop rather than wait out every round. */
const MAX_MISSES = 10;

const IDLE_POLLS = 2_000;
const IDLE_WAIT_MS = 30_000;
const IDLE_HOLD_MS = 20_000;
/** ferry idle with no polls, measured the same way, for comparison. */
const IDLE_BASELINE_MS = 5_000;
/** Polls opened per step while ramping up (the listen backlog is 511), and the pause between. */
const OPEN_STEP = 100;
const OPEN_STEP_PAUSE_MS = 20;
/** After the last poll is sent, before measuring: every one has reached its wait. */
const AFTER_OPEN_SETTLE_MS = 2_000;
const MAX_IDLE_CPU_PERCENT = 5;
const MAX_IDLE_RSS_INCREASE_MB = 100;

const LONG_POLL_LIMIT = 5_000;

const TERMINAL_STATUSES = new Set(["completed", "failed", "cancelled", "incomplete", "expired"]);

interface EventsPage {
  readonly data: readonly { completion_id: string; response_id: string; status: string }[];
}

interface WakeResult {
  readonly rounds: number;
  readonly latencyMs: Percentiles;
  /** The POST alone, for scale: the rest is executor, commit, wake and the long-poll's answer. */
  readonly submitMs: Percentiles;
  /** Long-polls that answered without the submitted response's event, or not 200. */
  readonly misses: number;
  readonly missExamples: string[];
}

interface IdleResult {
  readonly polls: number;
  readonly socketsOpen: number;
  readonly openSeconds: number;
  readonly holdSeconds: number;
  readonly cpuPercent: number;
  readonly baselineCpuPercent: number;
  readonly rssBeforeMb: number;
  readonly rssPeakMb: number;
  readonly rssEndMb: number;
  readonly rssIncreaseMb: number;
  /** Polls answered before the hold ended (a 429 from the limit, an error); should be none. */
  readonly answeredEarly: number;
  readonly earlyExamples: string[];
  readonly fdLimits: { bench: number | null; ferry: number | null };
}

export const longPoll: Benchmark = {
  name: NAME,
  description: `stream long-poll wake latency; ${IDLE_POLLS} idle long-polls' CPU and RSS`,
  timeLimitMs: 10 * 60_000,
  async run() {
    const machine = describeMachine();
    const isProfiling = process.env.BENCH_CPU_PROF === "1";
    console.log(formatMachine(machine));
    await buildFerry();
    const notes: string[] = [];
    let config: Record<string, unknown> | undefined = {
      limits: { max_concurrent_long_polls: LONG_POLL_LIMIT },
    };

    // (a)
    let wake: WakeResult;
    {
      const started = await startWithLimit({ config }, notes);
      config = started.config;
      const ferry = started.ferry;
      try {
        console.log(
          `wake latency: ${WAKE_WARMUP_ROUNDS} + ${WAKE_ROUNDS} rounds of long-poll, ${SETTLE_BEFORE_SUBMIT_MS} ms, deferred response (ferry pid ${ferry.pid}) ...`,
        );
        wake = await measureWake(ferry);
      } finally {
        await ferry.stop();
      }
    }

    // (b)
    const profileDir = path.join(PROFILES_DIR, NAME);
    if (isProfiling) {
      await rm(profileDir, { recursive: true, force: true });
    }
    let idle: IdleResult;
    {
      const { ferry } = await startWithLimit(
        {
          ...(config === undefined ? {} : { config }),
          nodeArgs: isProfiling ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
        },
        notes,
      );
      try {
        console.log(
          `idle long-polls: ${IDLE_POLLS} polls with wait_ms=${IDLE_WAIT_MS} held ${IDLE_HOLD_MS / 1000} s (ferry pid ${ferry.pid}) ...`,
        );
        idle = await measureIdle(ferry, notes);
      } finally {
        await ferry.stop();
      }
    }

    const checks: Check[] = [
      {
        label: `wake p50 ${fixed(wake.latencyMs.p50)} ms < ${MAX_WAKE_P50_MS} ms`,
        isPass: wake.latencyMs.p50 < MAX_WAKE_P50_MS,
      },
      {
        label: `wake p99 ${fixed(wake.latencyMs.p99)} ms < ${MAX_WAKE_P99_MS} ms`,
        isPass: wake.latencyMs.p99 < MAX_WAKE_P99_MS,
      },
      {
        label: `every long-poll woke with its response (${wake.misses} misses)`,
        isPass: wake.misses === 0,
      },
      {
        label: `CPU with ${IDLE_POLLS} idle polls ${fixed(idle.cpuPercent)}% of a core < ${MAX_IDLE_CPU_PERCENT}%`,
        isPass: idle.cpuPercent < MAX_IDLE_CPU_PERCENT,
      },
      {
        label: `RSS increase ${fixed(idle.rssIncreaseMb, 1)} MB < ${MAX_IDLE_RSS_INCREASE_MB} MB`,
        isPass: idle.rssIncreaseMb < MAX_IDLE_RSS_INCREASE_MB,
      },
      {
        label: `all ${IDLE_POLLS} polls held the whole time (${idle.answeredEarly} answered early, ${idle.socketsOpen} sockets open)`,
        isPass: idle.answeredEarly === 0 && idle.socketsOpen >= IDLE_POLLS,
      },
    ];
    const isPass = checks.every((check) => check.isPass);

    console.log("");
    console.log(
      formatTable(
        ["wake latency (ms)", "p50", "p90", "p99", "max"],
        [
          row("submit -> long-poll answered", wake.latencyMs),
          row("  the POST alone", wake.submitMs),
        ],
      ),
    );
    console.log("");
    console.log(
      formatTable(
        [`${IDLE_POLLS} idle long-polls`, "value"],
        [
          ["opened in s", fixed(idle.openSeconds, 2)],
          ["held s", fixed(idle.holdSeconds, 2)],
          ["ferry CPU % of one core", fixed(idle.cpuPercent, 2)],
          ["  ferry idle without polls", fixed(idle.baselineCpuPercent, 2)],
          [
            "ferry RSS before / peak / end MB",
            `${fixed(idle.rssBeforeMb, 1)} / ${fixed(idle.rssPeakMb, 1)} / ${fixed(idle.rssEndMb, 1)}`,
          ],
          ["RSS increase (peak - before) MB", fixed(idle.rssIncreaseMb, 1)],
          [
            "open-file limits bench / ferry",
            `${idle.fdLimits.bench ?? "?"} / ${idle.fdLimits.ferry ?? "?"}`,
          ],
        ],
      ),
    );
    for (const note of notes) {
      console.log(`note: ${note}`);
    }
    for (const example of [...wake.missExamples, ...idle.earlyExamples]) {
      console.log(`problem: ${example}`);
    }
    await finishBenchmark(NAME, {
      checks,
      profileDir: isProfiling ? profileDir : null,
      result: {
        machine,
        config: config ?? null,
        load: {
          wakeRounds: WAKE_ROUNDS,
          wakeWarmupRounds: WAKE_WARMUP_ROUNDS,
          settleBeforeSubmitMs: SETTLE_BEFORE_SUBMIT_MS,
          idlePolls: IDLE_POLLS,
          idleWaitMs: IDLE_WAIT_MS,
          idleHoldMs: IDLE_HOLD_MS,
          backend: "mock, zero delay",
        },
        isProfiling,
        targets: {
          maxWakeP50Ms: MAX_WAKE_P50_MS,
          maxWakeP99Ms: MAX_WAKE_P99_MS,
          maxIdleCpuPercent: MAX_IDLE_CPU_PERCENT,
          maxIdleRssIncreaseMb: MAX_IDLE_RSS_INCREASE_MB,
        },
        wake,
        idle,
        notes,
        checks,
        pass: isPass,
      },
    });
    return { isPass };
  },
};

/**
 * Starts ferry with the raised long-poll limit; if its config schema does not know the key yet,
 * without it (noted). Returns the config that worked, so the next start uses the same.
 */
async function startWithLimit(
  options: StartFerryOptions,
  notes: string[],
): Promise<{ ferry: FerryServer; config: Record<string, unknown> | undefined }> {
  try {
    return { ferry: await startFerry(options), config: options.config };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (options.config === undefined || !message.includes("max_concurrent_long_polls")) {
      throw err;
    }
    notes.push(
      `ferry rejected limits.max_concurrent_long_polls in FERRY_CONFIG; ran with the defaults (${message.split("\n").find((line) => line.includes("max_concurrent_long_polls"))})`,
    );
    const { config: _dropped, ...rest } = options;
    return { ferry: await startFerry(rest), config: undefined };
  }
}

async function createStream(client: HttpClient, name: string): Promise<string> {
  return (await client.json<{ id: string }>("POST", "/v1/streams", { body: { name } })).id;
}

async function measureWake(ferry: FerryServer): Promise<WakeResult> {
  const client = createHttpClient(ferry.url, { maxSockets: 4 });
  try {
    const streamId = await createStream(client, "bench");
    const latencies = createLatencyRecorder(WAKE_ROUNDS);
    const submits = createLatencyRecorder(WAKE_ROUNDS);
    const missExamples: string[] = [];
    let misses = 0;
    let cursor: string | null = null;
    for (let round = 0; round < WAKE_WARMUP_ROUNDS + WAKE_ROUNDS; round += 1) {
      const after: string = cursor === null ? "" : `&starting_after=${cursor}`;
      const polled = client.request(
        "GET",
        `/v1/streams/${streamId}/events?wait_ms=${WAKE_WAIT_MS}${after}`,
        { timeoutMs: WAKE_WAIT_MS + 5_000 },
      );
      await sleep(SETTLE_BEFORE_SUBMIT_MS);
      const startedAt = performance.now();
      const submitted = client.request("POST", "/v1/responses", {
        body: { model: MODEL, input: `Wake me (#${round})`, metadata: { stream_id: streamId } },
      });
      const poll = await polled;
      const wokeAt = performance.now();
      const submit = await submitted;
      if (submit.status !== 200) {
        throw new Error(`deferred submit failed: ${submit.status} ${submit.text.slice(0, 300)}`);
      }
      const responseId = (JSON.parse(submit.text) as { id: string }).id;
      const events = readEvents(poll);
      const event = events.find((candidate) => candidate.response_id === responseId);
      if (event === undefined) {
        misses += round >= WAKE_WARMUP_ROUNDS ? 1 : 0;
        if (missExamples.length < 5) {
          missExamples.push(
            `round ${round}: long-poll answered ${poll.status} after ${fixed(wokeAt - startedAt)} ms without ${responseId}: ${poll.text.slice(0, 200)}`,
          );
        }
        if (misses > MAX_MISSES) {
          throw new Error(
            `more than ${MAX_MISSES} long-polls missed their response: ${missExamples[0]}`,
          );
        }
        // Pick the stream up again where it is, so one miss does not make every later round one.
        cursor = await latestCompletionId(client, streamId, responseId);
        continue;
      }
      if (!TERMINAL_STATUSES.has(event.status)) {
        throw new Error(`event for ${responseId} has status '${event.status}'`);
      }
      cursor = events.reduce((max, candidate) =>
        candidate.completion_id > max.completion_id ? candidate : max,
      ).completion_id;
      if (round >= WAKE_WARMUP_ROUNDS) {
        latencies.record(wokeAt - startedAt);
        submits.record(submit.elapsedMs);
      }
    }
    return {
      rounds: WAKE_ROUNDS,
      latencyMs: percentilesOf(latencies),
      submitMs: percentilesOf(submits),
      misses,
      missExamples,
    };
  } finally {
    client.close();
  }
}

function readEvents(reply: HttpReply): EventsPage["data"] {
  if (reply.status !== 200) {
    return [];
  }
  return (JSON.parse(reply.text) as EventsPage).data;
}

/** After a miss: waits (bounded) for the response's event and returns the newest completion id. */
async function latestCompletionId(
  client: HttpClient,
  streamId: string,
  responseId: string,
): Promise<string | null> {
  const deadline = performance.now() + WAKE_WAIT_MS;
  while (performance.now() < deadline) {
    const page = await client.json<EventsPage>("GET", `/v1/streams/${streamId}/events?limit=100`);
    if (page.data.some((event) => event.response_id === responseId)) {
      return page.data[0]?.completion_id ?? null;
    }
    await sleep(10);
  }
  throw new Error(`response ${responseId} never reached stream ${streamId}`);
}

async function measureIdle(ferry: FerryServer, notes: string[]): Promise<IdleResult> {
  const fdLimits = { bench: readOpenFileLimit("self"), ferry: readOpenFileLimit(ferry.pid) };
  for (const [who, limit] of Object.entries(fdLimits)) {
    if (limit !== null && limit < IDLE_POLLS + 100) {
      notes.push(
        `${who}'s open-file limit is ${limit}, too low for ${IDLE_POLLS} connections (raise ulimit -n)`,
      );
    }
  }
  const control = createHttpClient(ferry.url, { maxSockets: 4 });
  const polls = createHttpClient(ferry.url, { maxSockets: IDLE_POLLS + 100 });
  // One signal ends every poll at once; each request adds a listener to it.
  const abort = new AbortController();
  setMaxListeners(IDLE_POLLS + 10, abort.signal);
  try {
    const streamId = await createStream(control, "bench-idle");
    // Warm the long-poll path (and its timeout branch) before the baseline.
    await Promise.all(
      Array.from({ length: 20 }, () =>
        control.json("GET", `/v1/streams/${streamId}/events?wait_ms=200`),
      ),
    );

    const baselineCpuPercent = await measureCpuPercent(ferry.pid, IDLE_BASELINE_MS);
    const rssBeforeBytes = await medianRss(ferry.pid);

    const earlyExamples: string[] = [];
    let answeredEarly = 0;
    let isHolding = true;
    const openedAt = performance.now();
    const pending: Promise<void>[] = [];
    for (let index = 0; index < IDLE_POLLS; index += 1) {
      pending.push(
        polls
          .request("GET", `/v1/streams/${streamId}/events?wait_ms=${IDLE_WAIT_MS}`, {
            timeoutMs: IDLE_WAIT_MS + 10_000,
            signal: abort.signal,
          })
          .then(
            (reply) => {
              if (isHolding) {
                answeredEarly += 1;
                if (earlyExamples.length < 3) {
                  earlyExamples.push(
                    `poll answered early: ${reply.status} ${reply.text.slice(0, 200)}`,
                  );
                }
              }
            },
            (err: unknown) => {
              if (isHolding && !abort.signal.aborted) {
                answeredEarly += 1;
                if (earlyExamples.length < 3) {
                  earlyExamples.push(
                    `poll failed early: ${err instanceof Error ? err.message : err}`,
                  );
                }
              }
            },
          ),
      );
      if ((index + 1) % OPEN_STEP === 0) {
        await sleep(OPEN_STEP_PAUSE_MS);
      }
    }
    const openSeconds = (performance.now() - openedAt) / 1000;
    await sleep(AFTER_OPEN_SETTLE_MS);
    const socketsOpen = polls.openSockets();

    const sampler = startRssSampler(ferry.pid);
    const cpuBefore = readCpuSeconds(ferry.pid);
    const holdStartedAt = performance.now();
    await sleep(IDLE_HOLD_MS);
    const holdMs = performance.now() - holdStartedAt;
    const cpuSeconds = readCpuSeconds(ferry.pid) - cpuBefore;
    const rss = sampler.stop();
    isHolding = false;

    abort.abort();
    await Promise.all(pending);
    // ferry must still answer after its clients vanished.
    await control.json("GET", "/health");

    const rssPeakBytes = Math.max(rss.peakBytes, rss.firstBytes);
    return {
      polls: IDLE_POLLS,
      socketsOpen,
      openSeconds,
      holdSeconds: holdMs / 1000,
      cpuPercent: (100 * cpuSeconds) / (holdMs / 1000),
      baselineCpuPercent,
      rssBeforeMb: toMegabytes(rssBeforeBytes),
      rssPeakMb: toMegabytes(rssPeakBytes),
      rssEndMb: toMegabytes(rss.lastBytes),
      rssIncreaseMb: toMegabytes(rssPeakBytes - rssBeforeBytes),
      answeredEarly,
      earlyExamples,
      fdLimits,
    };
  } finally {
    abort.abort();
    polls.close();
    control.close();
  }
}

async function measureCpuPercent(pid: number, windowMs: number): Promise<number> {
  const cpuBefore = readCpuSeconds(pid);
  const startedAt = performance.now();
  await sleep(windowMs);
  const elapsedMs = performance.now() - startedAt;
  return (100 * (readCpuSeconds(pid) - cpuBefore)) / (elapsedMs / 1000);
}

/** The median of ten samples over a second: one sample can land just before a GC. */
async function medianRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let index = 0; index < 10; index += 1) {
    samples.push(readMemoryBytes(pid));
    await sleep(100);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? 0;
}

function row(label: string, p: Percentiles): string[] {
  return [label, fixed(p.p50), fixed(p.p90), fixed(p.p99), fixed(p.max)];
}
