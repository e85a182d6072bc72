import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type OpenAI from "openai";
import type { Benchmark } from "./lib/benchmark.js";
import { printProfile } from "./lib/cpu-profile.js";
import { type DirectCallsResult, driveDirectly } from "./lib/direct-calls.js";
import {
  type FakeUpstream,
  type FakeUpstreamOptions,
  type FakeUpstreamStats,
  startFakeUpstream,
} from "./lib/fake-upstream.js";
import { buildFerry, type FerryServer, startFerry } from "./lib/ferry-server.js";
import { finishBenchmark } from "./lib/finish.js";
import { type HealthSample, startHealthSampler } from "./lib/health-sampler.js";
import { createLatencyRecorder, type Percentiles, percentilesOf } from "./lib/latency-recorder.js";
import { PROFILES_DIR } from "./lib/paths.js";
import { readCpuSeconds } from "./lib/process-stats.js";
import { TOPICS } from "./lib/questions.js";
import { type Check, describeMachine, fixed, formatMachine, formatTable } from "./lib/report.js";
import { createSdkClient, runSdkBatch, type SdkBatchRun } from "./lib/sdk-batch.js";
import { sleep } from "./lib/sleep.js";

/**
 * ferry in front of an inference server (issue 13): one `openai` backend at the bench's fake
 * upstream (lib/fake-upstream-server.ts, a capacity model of a GPU server), batches run through
 * the official `openai` SDK (files.create, batches.create, batches.retrieve every 20 ms). Every
 * figure is set beside a ceiling measured in the same run, and variants take turns round by round,
 * since this machine's speed drifts (other work shares it).
 *
 * 1. Executor efficiency: upstream at 50 ms a call, `max_concurrency: 128`, 5,000 lines. lines/s
 *    from in_progress to completed against the ideal 128 / 0.05 s = 2,560 and against the
 *    upstream driven directly by the bench at 128 in flight (undici Pool). Target: 0.9 of ideal.
 * 2. Call rate per core: upstream at 0 ms, `max_concurrency: 256`; ferry's CPU seconds per line
 *    give the calls per second one ferry core sustains. Goal: 10,000.
 * 3. Adaptive concurrency: an upstream whose knee is at 32 in flight (past it every call slows in
 *    proportion), and one that also answers 429 past 48; `adaptive_concurrency` (ceiling 128)
 *    beside a fixed limit of 8, 32 and 128: lines/s, the upstream's p50/p99 service time, a sync
 *    probe's latency during the batch (the interactive lane), 429s, and where the adaptive limit
 *    settled (ferry's /health `concurrency_limit`, sampled every 100 ms).
 * 4. Prefix scheduling: lines with 4 distinct ~2 kB system prompts, shuffled; the upstream keeps
 *    the prefixes of its last PREFIX_CACHE_K calls and answers a hit in a fraction of the time.
 *    Prefix switches, cache hit rate and lines/s with `batches.prefix_scheduling` off and on.
 *
 * Sections 1 and 2 run ferry's defaults as a user would (where adaptive concurrency exists,
 * `max_concurrency` is its ceiling, and where it settled is shown). On a host shared with other
 * work, lines/s falls with the CPU ferry is given; ferry's CPU time per line (read from /proc)
 * moves far less, so calls/s per core is the figure to compare between runs.
 *
 * Sections 3 and 4 use config fields a build may not have (config is strict); a build that
 * refuses one runs what it can and says which variant it could not run.
 *
 * Knobs: BENCH_QUICK=1 (fewer lines and rounds), BENCH_UPSTREAM_SECTIONS=1,2 (a subset),
 * BENCH_CPU_PROF=1 (ferry of sections 1 and 2 under --cpu-prof; top self-time functions printed).
 */

const NAME = "upstream";
const MODEL = "gpt-4o-mini";
const BACKEND = "gpu";
const IS_QUICK = process.env.BENCH_QUICK === "1";
const POLL_MS = 20;
const BATCH_TIMEOUT_MS = 180_000;

const EFFICIENCY = {
  latencyMs: 50,
  concurrency: 128,
  lines: IS_QUICK ? 2_000 : 5_000,
  rounds: IS_QUICK ? 1 : 3,
  minRatio: 0.9,
};
const CALL_RATE = {
  concurrency: 256,
  lines: IS_QUICK ? 4_000 : 10_000,
  rounds: IS_QUICK ? 1 : 2,
  goalCallsPerCore: 10_000,
};
const WARMUP_LINES = 1_000;
const ADAPTIVE = {
  latencyMs: 50,
  knee: 32,
  rejectAbove: 48,
  ceiling: 128,
  fixedLimits: [8, 32, 128],
  lines: IS_QUICK ? 600 : 1_000,
  rounds: IS_QUICK ? 1 : 2,
  probeGapMs: 100,
};
/** How long the sync probe runs alone before the batches, for its normal latency. */
const PROBE_ALONE_MS = 1_500;
const PREFIX = {
  latencyMs: 50,
  /** Small next to the 4 prompts: in submission order a call's prefix is often not among them. */
  cacheK: 2,
  hitFactor: 0.3,
  prompts: 4,
  promptChars: 2_000,
  /**
   * Few slots, so that the upstream's time (a miss 50 ms, a hit 15 ms) and not ferry's CPU bounds
   * lines/s: the order's effect on throughput shows (at most 160 lines/s all misses, 533 all hits).
   */
  concurrency: 8,
  lines: IS_QUICK ? 600 : 1_500,
  rounds: IS_QUICK ? 1 : 2,
};

interface ChatBody {
  readonly model: string;
  readonly messages: readonly { role: string; content: string }[];
}

function chatBody(index: number, systemPrompt?: string): ChatBody {
  const question = {
    role: "user",
    content: `In one sentence: ${TOPICS[index % TOPICS.length]}? (#${index})`,
  };
  return {
    model: MODEL,
    messages:
      systemPrompt === undefined
        ? [question]
        : [{ role: "system", content: systemPrompt }, question],
  };
}

function jsonlOf(bodies: readonly ChatBody[]): string {
  return bodies
    .map(
      (body, index) =>
        `${JSON.stringify({ custom_id: `line-${index + 1}`, method: "POST", url: "/v1/chat/completions", body })}\n`,
    )
    .join("");
}

function plainBatch(lines: number): string {
  return jsonlOf(Array.from({ length: lines }, (_, index) => chatBody(index)));
}

/** One `openai` backend at the fake upstream; `extra` adds fields a build may not know. */
function ferryConfig(
  upstream: FakeUpstream,
  maxConcurrency: number,
  extra: { backend?: Record<string, unknown>; batches?: Record<string, unknown> } = {},
): Record<string, unknown> {
  return {
    backends: [
      {
        name: BACKEND,
        type: "openai",
        base_url: `${upstream.url}/v1`,
        api_key: "sk-fake-upstream",
        models: ["*"],
        max_concurrency: maxConcurrency,
        ...extra.backend,
      },
    ],
    ...(extra.batches === undefined ? {} : { batches: extra.batches }),
  };
}

/**
 * Starts ferry, or returns null when this build refuses one of `fields` as an unknown config key
 * (a feature that has not landed): the bench runs the variants it can.
 */
async function startFerryIfKnown(
  config: Record<string, unknown>,
  fields: readonly string[],
  nodeArgs: readonly string[] = [],
): Promise<FerryServer | null> {
  try {
    return await startFerry({ config, nodeArgs });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (fields.some((field) => message.includes(`Unrecognized key: "${field}"`))) {
      return null;
    }
    throw err;
  }
}

function median(values: readonly number[]): number {
  if (values.length === 0) {
    return Number.NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** lines/s as the upstream saw it: answered calls over its first-arrival-to-last-answer window. */
function upstreamLinesPerSecond(stats: FakeUpstreamStats): number {
  return stats.activeMs > 0 ? (stats.completed * 1000) / stats.activeMs : 0;
}

function batchRunOptions(ferry: FerryServer, jsonl: string, onInProgress?: () => void) {
  return { jsonl, ferryPid: ferry.pid, pollMs: POLL_MS, timeoutMs: BATCH_TIMEOUT_MS, onInProgress };
}

/** A table of per-round figures: one column per round, then their median. */
function roundsTable(
  title: string,
  rounds: number,
  rows: readonly { label: string; values: readonly number[]; digits?: number }[],
): string {
  const header = [title, ...Array.from({ length: rounds }, (_, i) => `round ${i + 1}`), "median"];
  return formatTable(
    header,
    rows.map((row) => [
      row.label,
      ...row.values.map((value) => fixed(value, row.digits ?? 0)),
      fixed(median(row.values), row.digits ?? 0),
    ]),
  );
}

function profileArgs(dir: string | null): string[] {
  return dir === null ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`];
}

// ---------------------------------------------------------------------------------------------
// Sections 1 and 2: ferry's batch executor against the upstream driven directly.

interface ThroughputRound {
  readonly direct: DirectCallsResult;
  readonly directStats: FakeUpstreamStats;
  readonly batch: SdkBatchRun;
  readonly stats: FakeUpstreamStats;
  readonly upstreamCpuPercent: number;
  /** Where an adaptive limit settled during the batch; null without one. */
  readonly limit: ReturnType<typeof settledLimit>;
}

async function measureThroughput(options: {
  readonly latencyMs: number;
  readonly concurrency: number;
  readonly lines: number;
  readonly rounds: number;
  readonly profileDir: string | null;
}): Promise<ThroughputRound[]> {
  const upstream = await startFakeUpstream({ latencyMs: options.latencyMs });
  const rounds: ThroughputRound[] = [];
  try {
    if (options.profileDir !== null) {
      await rm(options.profileDir, { recursive: true, force: true });
    }
    const ferry = await startFerry({
      config: ferryConfig(upstream, options.concurrency),
      nodeArgs: profileArgs(options.profileDir),
    });
    try {
      const client = createSdkClient(ferry.url);
      const jsonl = plainBatch(options.lines);
      // JIT, SQLite's page cache and the upstream connections, before anything is measured.
      await runSdkBatch(client, batchRunOptions(ferry, plainBatch(WARMUP_LINES)));
      const bodyOf = (index: number) => JSON.stringify(chatBody(index));
      for (let round = 0; round < options.rounds; round += 1) {
        await upstream.resetStats();
        const direct = await driveDirectly(upstream.url, {
          calls: options.lines,
          concurrency: options.concurrency,
          bodyOf,
        });
        const directStats = await upstream.stats();
        await upstream.resetStats();
        const upstreamCpuBefore = readCpuSeconds(upstream.pid);
        const sampler = startHealthSampler(ferry.url, BACKEND);
        const batch = await runSdkBatch(client, batchRunOptions(ferry, jsonl));
        const limit = settledLimit(await sampler.stop());
        const upstreamCpu = readCpuSeconds(upstream.pid) - upstreamCpuBefore;
        const stats = await upstream.stats();
        rounds.push({
          direct,
          directStats,
          batch,
          stats,
          upstreamCpuPercent: batch.runSeconds > 0 ? (100 * upstreamCpu) / batch.runSeconds : 0,
          limit,
        });
        console.log(
          `  round ${round + 1}: direct ${fixed(direct.callsPerSecond, 0)} calls/s, ferry ${fixed(batch.linesPerSecond, 0)} lines/s (${batch.status}, ${batch.requestCounts.failed} failed)`,
        );
      }
    } finally {
      await ferry.stop();
    }
  } finally {
    await upstream.stop();
  }
  return rounds;
}

function throughputRows(rounds: readonly ThroughputRound[], ideal: number | null) {
  const pick = (f: (round: ThroughputRound) => number) => rounds.map(f);
  return [
    ...(ideal === null
      ? []
      : [{ label: "ideal lines/s (slots / latency)", values: pick(() => ideal) }]),
    {
      label: "ceiling: bench -> upstream directly, calls/s",
      values: pick((r) => r.direct.callsPerSecond),
    },
    {
      label: "ferry lines/s (in_progress -> completed, seen)",
      values: pick((r) => r.batch.linesPerSecond),
    },
    {
      label: "ferry lines/s (upstream's first call -> last answer)",
      values: pick((r) => upstreamLinesPerSecond(r.stats)),
    },
    ...(ideal === null
      ? []
      : [
          {
            label: "ratio to ideal",
            values: pick((r) => r.batch.linesPerSecond / ideal),
            digits: 2,
          },
        ]),
    {
      label: "ratio to the measured ceiling",
      values: pick((r) => r.batch.linesPerSecond / r.direct.callsPerSecond),
      digits: 2,
    },
    // A zero-latency upstream answers each call in the tick it arrives: nothing stays in flight.
    ...(ideal === null
      ? []
      : [
          { label: "upstream max in flight (ferry)", values: pick((r) => r.stats.maxInFlight) },
          {
            label: "upstream mean in flight (ferry)",
            values: pick((r) => r.stats.meanInFlight),
            digits: 1,
          },
          {
            label: "upstream mean in flight (direct)",
            values: pick((r) => r.directStats.meanInFlight),
            digits: 1,
          },
        ]),
    { label: "ferry CPU % of a core (run)", values: pick((r) => r.batch.ferryCpuPercent) },
    { label: "upstream CPU % of a core (run)", values: pick((r) => r.upstreamCpuPercent) },
    {
      label: "ferry CPU us per line (run)",
      values: pick(
        (r) => (1e6 * r.batch.ferryCpuRunSeconds) / Math.max(r.batch.requestCounts.completed, 1),
      ),
    },
    {
      label: "ferry CPU us per line (create -> completed)",
      values: pick(
        (r) => (1e6 * r.batch.ferryCpuTotalSeconds) / Math.max(r.batch.requestCounts.completed, 1),
      ),
    },
    {
      label: "validation s (created -> in_progress)",
      values: pick((r) => r.batch.validationSeconds),
      digits: 2,
    },
    { label: "failed lines", values: pick((r) => r.batch.requestCounts.failed) },
    ...(rounds.some((r) => r.limit !== null)
      ? [
          {
            label: "adaptive limit settled (/health)",
            values: pick((r) => r.limit?.settled ?? Number.NaN),
          },
          {
            // Slots kept free of batch work: the batch's own ideal is (limit - reserve) / latency.
            label: "interactive reserve, slots (/health)",
            values: pick((r) => r.limit?.reserve ?? Number.NaN),
          },
        ]
      : []),
  ];
}

/** Calls per second one ferry core sustains: completed lines per CPU second of the run. */
function callsPerCore(round: ThroughputRound): number {
  return round.batch.ferryCpuRunSeconds > 0
    ? round.batch.requestCounts.completed / round.batch.ferryCpuRunSeconds
    : 0;
}

// ---------------------------------------------------------------------------------------------
// Section 3: adaptive concurrency against an upstream with a knee.

interface ConcurrencyVariant {
  readonly label: string;
  readonly maxConcurrency: number;
  readonly isAdaptive: boolean;
}

interface ConcurrencyRun {
  readonly batch: SdkBatchRun;
  readonly stats: FakeUpstreamStats;
  readonly probe: Percentiles & { readonly count: number; readonly errors: number };
  readonly limit: ReturnType<typeof settledLimit>;
}

interface ConcurrencyResult {
  readonly upstream: string;
  /** lines/s of each variant if the upstream did nothing but serve it: min(limit, knee) / latency. */
  readonly idealLinesPerSecond: readonly number[];
  readonly options: FakeUpstreamOptions;
  /** The sync probe with no batch running: the interactive lane's normal latency. */
  readonly probeAlone: Percentiles & { readonly count: number; readonly errors: number };
  readonly variants: readonly {
    readonly label: string;
    /** null: this build has no `adaptive_concurrency`; the variant did not run. */
    readonly runs: readonly ConcurrencyRun[] | null;
  }[];
}

/** Sync chat completions through ferry one after another until stopped: the interactive lane. */
function startProbe(client: OpenAI, gapMs: number) {
  const latencies = createLatencyRecorder(1024);
  let errors = 0;
  let isStopped = false;
  const loop = (async () => {
    while (!isStopped) {
      const startedAt = performance.now();
      try {
        await client.chat.completions.create({
          model: MODEL,
          messages: [{ role: "user", content: "A probe: are you there?" }],
        });
        latencies.record(performance.now() - startedAt);
      } catch {
        errors += 1;
      }
      await sleep(gapMs);
    }
  })();
  return {
    async stop() {
      isStopped = true;
      await loop;
      return { ...percentilesOf(latencies), count: latencies.count, errors };
    },
  };
}

/** Where the adaptive limit settled: the median of the second half of the run's samples. */
function settledLimit(samples: readonly HealthSample[]) {
  const limits = samples.flatMap((sample) => (sample.limit === null ? [] : [sample.limit]));
  if (limits.length === 0) {
    return null;
  }
  const late = limits.slice(Math.floor(limits.length / 2));
  const reserves = samples.flatMap((sample) => (sample.reserve === null ? [] : [sample.reserve]));
  return {
    settled: median(late),
    min: Math.min(...late),
    max: Math.max(...late),
    reserve: reserves.length === 0 ? null : median(reserves),
  };
}

async function measureConcurrency(
  label: string,
  options: FakeUpstreamOptions,
): Promise<ConcurrencyResult> {
  const upstream = await startFakeUpstream(options);
  const ferries: (FerryServer | null)[] = [];
  try {
    const adaptive = await startFerryIfKnown(
      ferryConfig(upstream, ADAPTIVE.ceiling, { backend: { adaptive_concurrency: true } }),
      ["adaptive_concurrency"],
    );
    const hasAdaptive = adaptive !== null;
    const variants: ConcurrencyVariant[] = [
      {
        label: `adaptive (ceiling ${ADAPTIVE.ceiling})`,
        maxConcurrency: ADAPTIVE.ceiling,
        isAdaptive: true,
      },
      ...ADAPTIVE.fixedLimits.map((limit) => ({
        label: `fixed ${limit}`,
        maxConcurrency: limit,
        isAdaptive: false,
      })),
    ];
    ferries.push(adaptive);
    for (const variant of variants.slice(1)) {
      // Where adaptive concurrency exists it is on by default: a fixed limit must say so.
      const backend = hasAdaptive ? { adaptive_concurrency: false } : {};
      ferries.push(
        await startFerry({ config: ferryConfig(upstream, variant.maxConcurrency, { backend }) }),
      );
    }
    const idle = ferries.find((ferry) => ferry !== null) ?? null;
    if (idle === null) {
      throw new Error("no ferry started");
    }
    const aloneProbe = startProbe(createSdkClient(idle.url), ADAPTIVE.probeGapMs);
    await sleep(PROBE_ALONE_MS);
    const probeAlone = await aloneProbe.stop();
    const jsonl = plainBatch(ADAPTIVE.lines);
    const runs: ConcurrencyRun[][] = variants.map(() => []);
    for (let round = 0; round < ADAPTIVE.rounds; round += 1) {
      // A different variant goes first each round, so none always runs on a fresher machine.
      for (let turn = 0; turn < variants.length; turn += 1) {
        const index = (turn + round) % variants.length;
        const ferry = ferries[index];
        if (ferry === null || ferry === undefined) {
          continue;
        }
        const client = createSdkClient(ferry.url);
        await upstream.resetStats();
        const sampler = startHealthSampler(ferry.url, BACKEND);
        // Started once the batch is in progress, so it measures the interactive lane beside it.
        const probes: ReturnType<typeof startProbe>[] = [];
        const batch = await runSdkBatch(
          client,
          batchRunOptions(ferry, jsonl, () => {
            probes.push(startProbe(client, ADAPTIVE.probeGapMs));
          }),
        );
        const probeFigures = await probes[0]?.stop();
        const samples = await sampler.stop();
        const stats = await upstream.stats();
        runs[index]?.push({
          batch,
          stats,
          probe: probeFigures ?? { p50: 0, p90: 0, p99: 0, max: 0, count: 0, errors: 0 },
          limit: settledLimit(samples),
        });
        console.log(
          `  ${label}, ${variants[index]?.label}: ${fixed(batch.linesPerSecond, 0)} lines/s, ${batch.requestCounts.failed} failed, upstream p99 ${fixed(stats.p99Ms, 0)} ms, ${stats.rejected} x 429, probe p99 ${fixed(probeFigures?.p99 ?? 0, 0)} ms (${probeFigures?.errors ?? 0} probe errors)`,
        );
      }
    }
    const knee = options.knee ?? Number.POSITIVE_INFINITY;
    return {
      upstream: label,
      idealLinesPerSecond: variants.map(
        (variant) => Math.min(variant.maxConcurrency, knee) / ((options.latencyMs ?? 1) / 1000),
      ),
      options,
      probeAlone,
      variants: variants.map((variant, index) => ({
        label: variant.label,
        runs: ferries[index] === null ? null : (runs[index] ?? []),
      })),
    };
  } finally {
    for (const ferry of ferries) {
      await ferry?.stop();
    }
    await upstream.stop();
  }
}

function concurrencyTable(result: ConcurrencyResult): string {
  const header = [
    result.upstream,
    "lines/s",
    "ideal",
    "ratio",
    "failed",
    "429s",
    "up p50 ms",
    "up p99 ms",
    "max in flight",
    "mean in flight",
    "probe p50 ms",
    "probe p99 ms",
    "limit settled (min-max)",
  ];
  const rows = result.variants.map(({ label, runs }, index) => {
    const ideal = result.idealLinesPerSecond[index] ?? Number.NaN;
    if (runs === null) {
      const blanks = Array<string>(header.length - 3).fill("");
      return [label, "not in this build", fixed(ideal, 0), ...blanks];
    }
    const of = (f: (run: ConcurrencyRun) => number, digits = 0) =>
      fixed(median(runs.map(f)), digits);
    const limits = runs.flatMap((run) => (run.limit === null ? [] : [run.limit]));
    const limit =
      limits.length === 0
        ? "-"
        : `${fixed(median(limits.map((l) => l.settled)), 0)} (${Math.min(...limits.map((l) => l.min))}-${Math.max(...limits.map((l) => l.max))})`;
    return [
      label,
      of((run) => run.batch.linesPerSecond),
      fixed(ideal, 0),
      of((run) => run.batch.linesPerSecond / ideal, 2),
      of((run) => run.batch.requestCounts.failed),
      of((run) => run.stats.rejected),
      of((run) => run.stats.p50Ms),
      of((run) => run.stats.p99Ms),
      of((run) => run.stats.maxInFlight),
      of((run) => run.stats.meanInFlight, 1),
      of((run) => run.probe.p50),
      of((run) => run.probe.p99),
      limit,
    ];
  });
  return formatTable(header, rows);
}

// ---------------------------------------------------------------------------------------------
// Section 4: prefix-aware scheduling.

interface PrefixRun {
  readonly batch: SdkBatchRun;
  readonly stats: FakeUpstreamStats;
}

interface PrefixResult {
  readonly variants: readonly {
    readonly label: string;
    readonly runs: readonly PrefixRun[] | null;
  }[];
}

/** A small deterministic PRNG (mulberry32), so every run shuffles the same way. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function prefixBatch(): string {
  const prompts = Array.from({ length: PREFIX.prompts }, (_, k) =>
    `You are assistant number ${k + 1} of a ferry company. `
      .repeat(Math.ceil(PREFIX.promptChars / 50))
      .slice(0, PREFIX.promptChars),
  );
  const random = seededRandom(13);
  const order = Array.from({ length: PREFIX.lines }, (_, index) => index);
  for (let i = order.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
  }
  return jsonlOf(order.map((index) => chatBody(index, prompts[index % PREFIX.prompts])));
}

async function measurePrefix(hasAdaptive: boolean | null): Promise<PrefixResult> {
  const upstream = await startFakeUpstream({
    latencyMs: PREFIX.latencyMs,
    prefixCacheK: PREFIX.cacheK,
    prefixHitFactor: PREFIX.hitFactor,
  });
  const ferries: (FerryServer | null)[] = [];
  try {
    // A fixed limit, so that only the order of the lines differs between the variants.
    const backend = hasAdaptive === true ? { adaptive_concurrency: false } : {};
    const on = await startFerryIfKnown(
      ferryConfig(upstream, PREFIX.concurrency, { backend, batches: { prefix_scheduling: true } }),
      ["prefix_scheduling"],
    );
    const off =
      on === null
        ? await startFerry({ config: ferryConfig(upstream, PREFIX.concurrency, { backend }) })
        : await startFerry({
            config: ferryConfig(upstream, PREFIX.concurrency, {
              backend,
              batches: { prefix_scheduling: false },
            }),
          });
    ferries.push(off, on);
    const labels = ["submission order (scheduling off)", "prefix scheduling on"];
    const jsonl = prefixBatch();
    const runs: PrefixRun[][] = [[], []];
    for (let round = 0; round < PREFIX.rounds; round += 1) {
      for (let turn = 0; turn < ferries.length; turn += 1) {
        const index = (turn + round) % ferries.length;
        const ferry = ferries[index];
        if (ferry === null || ferry === undefined) {
          continue;
        }
        await upstream.resetStats();
        const batch = await runSdkBatch(createSdkClient(ferry.url), batchRunOptions(ferry, jsonl));
        const stats = await upstream.stats();
        runs[index]?.push({ batch, stats });
        console.log(
          `  ${labels[index]}: ${fixed(batch.linesPerSecond, 0)} lines/s, ${stats.prefixSwitches} prefix switches, hit rate ${fixed(hitRate(stats), 2)}`,
        );
      }
    }
    return {
      variants: labels.map((label, index) => ({
        label,
        runs: ferries[index] === null ? null : (runs[index] ?? []),
      })),
    };
  } finally {
    for (const ferry of ferries) {
      await ferry?.stop();
    }
    await upstream.stop();
  }
}

function hitRate(stats: FakeUpstreamStats): number {
  const seen = stats.prefixHits + stats.prefixMisses;
  return seen === 0 ? 0 : stats.prefixHits / seen;
}

function prefixTable(result: PrefixResult): string {
  const header = [
    "prefix scheduling",
    "lines/s",
    "ideal",
    "prefix switches",
    "switches / line",
    "cache hit rate",
    "up p50 ms",
    "failed",
  ];
  const rows = result.variants.map(({ label, runs }) => {
    if (runs === null) {
      return [label, "not in this build", ...Array<string>(header.length - 2).fill("")];
    }
    const of = (f: (run: PrefixRun) => number, digits = 0) => fixed(median(runs.map(f)), digits);
    return [
      label,
      of((run) => run.batch.linesPerSecond),
      of(idealPrefixLinesPerSecond),
      of((run) => run.stats.prefixSwitches),
      of((run) => run.stats.prefixSwitches / Math.max(run.stats.completed, 1), 3),
      of((run) => hitRate(run.stats), 2),
      of((run) => run.stats.p50Ms),
      of((run) => run.batch.requestCounts.failed),
    ];
  });
  return formatTable(header, rows);
}

/** What the slots give at the hit rate the upstream saw: slots / mean service time. */
function idealPrefixLinesPerSecond(run: PrefixRun): number {
  const rate = hitRate(run.stats);
  const meanMs = PREFIX.latencyMs * (rate * PREFIX.hitFactor + (1 - rate));
  return (PREFIX.concurrency * 1000) / meanMs;
}

// ---------------------------------------------------------------------------------------------

/** The host's load now: the figures of a section are only as steady as the machine was. */
function noteLoad(loads: Record<string, number>, section: string): void {
  const load = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
  loads[section] = load;
  console.log(`(load average after section ${section}: ${load} on ${os.cpus().length} cpus)`);
}

function selectedSections(): Set<number> {
  const raw = process.env.BENCH_UPSTREAM_SECTIONS;
  if (raw === undefined || raw.trim() === "") {
    return new Set([1, 2, 3, 4]);
  }
  return new Set(raw.split(",").map((part) => Number(part.trim())));
}

export const upstream: Benchmark = {
  name: NAME,
  description:
    "ferry's executor at a fake GPU upstream: efficiency at 50 ms, calls/s per core, adaptive concurrency, prefix scheduling",
  timeLimitMs: 12 * 60_000,
  async run() {
    const machine = describeMachine();
    const startedAt = performance.now();
    const isProfiling = process.env.BENCH_CPU_PROF === "1";
    const sections = selectedSections();
    console.log(formatMachine(machine));
    if (IS_QUICK) {
      console.log("BENCH_QUICK=1: fewer lines and rounds");
    }
    await buildFerry();
    const checks: Check[] = [];
    const problems: string[] = [];
    const loads: Record<string, number> = {};
    const result: Record<string, unknown> = { machine, isQuick: IS_QUICK, isProfiling, loads };
    const profileDirOf = (section: string) =>
      isProfiling ? path.join(PROFILES_DIR, `${NAME}-${section}`) : null;

    if (sections.has(1)) {
      const ideal = EFFICIENCY.concurrency / (EFFICIENCY.latencyMs / 1000);
      console.log(
        `\n1. executor efficiency: upstream ${EFFICIENCY.latencyMs} ms a call, max_concurrency ${EFFICIENCY.concurrency}, ${EFFICIENCY.lines} lines, ${EFFICIENCY.rounds} round(s) ...`,
      );
      const profileDir = profileDirOf("efficiency");
      const rounds = await measureThroughput({ ...EFFICIENCY, profileDir });
      console.log("");
      console.log(
        roundsTable(
          `${EFFICIENCY.lines} lines at ${EFFICIENCY.latencyMs} ms`,
          rounds.length,
          throughputRows(rounds, ideal),
        ),
      );
      const ratio = median(rounds.map((r) => r.batch.linesPerSecond / ideal));
      const isComplete = rounds.every(
        (r) => r.batch.status === "completed" && r.batch.requestCounts.failed === 0,
      );
      checks.push({
        label: `executor efficiency ${fixed(ratio, 2)} of the ideal ${fixed(ideal, 0)} lines/s >= ${EFFICIENCY.minRatio}`,
        isPass: ratio >= EFFICIENCY.minRatio,
      });
      checks.push({
        label: "efficiency batches completed with no failed line",
        isPass: isComplete,
      });
      result.efficiency = { settings: EFFICIENCY, ideal, ratio, rounds };
      noteLoad(loads, "1");
      if (profileDir !== null) {
        await printProfile(profileDir, "ferry (section 1)");
      }
    }

    if (sections.has(2)) {
      console.log(
        `\n2. call rate per core: upstream at 0 ms, max_concurrency ${CALL_RATE.concurrency}, ${CALL_RATE.lines} lines, ${CALL_RATE.rounds} round(s) ...`,
      );
      const profileDir = profileDirOf("call-rate");
      const rounds = await measureThroughput({ ...CALL_RATE, latencyMs: 0, profileDir });
      console.log("");
      console.log(
        roundsTable(`${CALL_RATE.lines} lines at 0 ms`, rounds.length, [
          ...throughputRows(rounds, null),
          {
            label: "calls/s per ferry core (lines / CPU s of the run)",
            values: rounds.map(callsPerCore),
          },
        ]),
      );
      const perCore = median(rounds.map(callsPerCore));
      checks.push({
        label: `calls/s per ferry core ${fixed(perCore, 0)} >= ${CALL_RATE.goalCallsPerCore} (goal)`,
        isPass: perCore >= CALL_RATE.goalCallsPerCore,
      });
      result.callRate = { settings: CALL_RATE, callsPerCore: perCore, rounds };
      noteLoad(loads, "2");
      if (profileDir !== null) {
        await printProfile(profileDir, "ferry (section 2)");
      }
    }

    let hasAdaptive: boolean | null = null;
    if (sections.has(3)) {
      console.log(
        `\n3. adaptive concurrency: upstream ${ADAPTIVE.latencyMs} ms, knee ${ADAPTIVE.knee}; ${ADAPTIVE.lines} lines, ${ADAPTIVE.rounds} round(s) per variant ...`,
      );
      const upstreams: [string, FakeUpstreamOptions][] = [
        [`knee ${ADAPTIVE.knee}`, { latencyMs: ADAPTIVE.latencyMs, knee: ADAPTIVE.knee }],
        [
          `knee ${ADAPTIVE.knee}, 429 past ${ADAPTIVE.rejectAbove}`,
          { latencyMs: ADAPTIVE.latencyMs, knee: ADAPTIVE.knee, rejectAbove: ADAPTIVE.rejectAbove },
        ],
      ];
      const results: ConcurrencyResult[] = [];
      for (const [label, options] of upstreams) {
        results.push(await measureConcurrency(label, options));
      }
      for (const concurrency of results) {
        console.log("");
        console.log(concurrencyTable(concurrency));
        console.log(
          `probe alone (no batch): p50 ${fixed(concurrency.probeAlone.p50, 0)} ms, p99 ${fixed(concurrency.probeAlone.p99, 0)} ms over ${concurrency.probeAlone.count} calls; probe = a sync chat completion every ${ADAPTIVE.probeGapMs} ms during the batch`,
        );
      }
      const adaptiveRuns = results.map((r) => r.variants[0]?.runs ?? null);
      hasAdaptive = adaptiveRuns.every((runs) => runs !== null);
      if (!hasAdaptive) {
        problems.push(
          "this build has no adaptive_concurrency: section 3 ran the fixed limits only",
        );
      } else {
        const rejecting = adaptiveRuns[1] ?? [];
        const failed = median(rejecting.map((run) => run.batch.requestCounts.failed));
        const settled = median(
          rejecting.flatMap((run) => (run.limit === null ? [] : [run.limit.settled])),
        );
        checks.push({
          label: `adaptive against 429 past ${ADAPTIVE.rejectAbove}: ${failed} lines failed (want 0)`,
          isPass: failed === 0,
        });
        checks.push({
          label: `adaptive limit settled at ${fixed(settled, 0)}, near the knee ${ADAPTIVE.knee} (within ${ADAPTIVE.knee / 2}-${ADAPTIVE.rejectAbove})`,
          isPass: settled >= ADAPTIVE.knee / 2 && settled <= ADAPTIVE.rejectAbove,
        });
      }
      result.adaptive = { settings: ADAPTIVE, results };
      noteLoad(loads, "3");
    }

    if (sections.has(4)) {
      console.log(
        `\n4. prefix scheduling: ${PREFIX.prompts} system prompts of ${PREFIX.promptChars} chars, shuffled; upstream ${PREFIX.latencyMs} ms, prefix cache of the last ${PREFIX.cacheK} calls, a hit costs x${PREFIX.hitFactor}; max_concurrency ${PREFIX.concurrency}, ${PREFIX.lines} lines ...`,
      );
      if (hasAdaptive === null) {
        // Section 3 did not run: find out whether fixed limits need saying.
        const probeUpstream = await startFakeUpstream();
        const ferry = await startFerryIfKnown(
          ferryConfig(probeUpstream, 1, { backend: { adaptive_concurrency: false } }),
          ["adaptive_concurrency"],
        );
        hasAdaptive = ferry !== null;
        await ferry?.stop();
        await probeUpstream.stop();
      }
      const prefix = await measurePrefix(hasAdaptive);
      console.log("");
      console.log(prefixTable(prefix));
      const [off, on] = prefix.variants.map((variant) => variant.runs);
      if (on === null || on === undefined) {
        problems.push(
          "this build has no batches.prefix_scheduling: section 4 ran submission order only",
        );
      } else {
        const switchesOff = median((off ?? []).map((run) => run.stats.prefixSwitches));
        const switchesOn = median(on.map((run) => run.stats.prefixSwitches));
        checks.push({
          label: `prefix switches scheduled ${fixed(switchesOn, 0)} <= a quarter of submission order's ${fixed(switchesOff, 0)}`,
          isPass: switchesOn <= switchesOff / 4,
        });
      }
      result.prefix = { settings: PREFIX, ...prefix };
      noteLoad(loads, "4");
    }

    const isPass = checks.every((check) => check.isPass);
    console.log(`\nupstream bench took ${fixed((performance.now() - startedAt) / 1000, 0)} s`);
    await finishBenchmark(NAME, {
      checks,
      problems,
      profileDir: null,
      result: { ...result, checks, pass: isPass },
    });
    return { isPass };
  },
};
