import { createHmac, timingSafeEqual } from "node:crypto";
import { rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import Database from "better-sqlite3";
import { submitBackground, waitUntilIdle } from "./lib/background-load.js";
import type { Benchmark } from "./lib/benchmark.js";
import { buildFerry, type FerryServer, startFerry } from "./lib/ferry-server.js";
import { finishBenchmark } from "./lib/finish.js";
import { createHttpClient } from "./lib/http-client.js";
import { createLatencyRecorder, type Percentiles, percentilesOf } from "./lib/latency-recorder.js";
import { PROFILES_DIR } from "./lib/paths.js";
import { readCpuSeconds } from "./lib/process-stats.js";
import { type Check, describeMachine, fixed, formatMachine, formatTable } from "./lib/report.js";
import { sleep } from "./lib/sleep.js";

/**
 * Webhooks (issue 14): 10,000 background responses on the mock at zero delay, from 32 clients,
 * with an endpoint subscribed to `response.completed` whose receiver (node:http in this process)
 * answers every delivery after 100 ms; and the same load with no endpoint. Rounds alternate
 * (without, with, without, with: this machine's speed drifts), each on a fresh ferry.
 *
 * Figures: inference throughput (first submit to all 10,000 completed, seen on /health) with
 * and without webhooks, and their ratio per pair of rounds (target: within 20%, >= 0.8); every
 * event delivered exactly once, counted by `webhook-id` at the receiver (each delivery's
 * signature is checked, and each response must have exactly one event); and the delivery
 * latency after completion: the receiver's arrival time less the delivery row's created_at_ms,
 * which the outbox writes in the transaction that completes the response (read from ferry's
 * database after the round, untimed; one clock, one machine).
 */

const NAME = "webhooks";
const TOTAL = Number(process.env.BENCH_WEBHOOKS_TOTAL ?? 10_000);
const CLIENTS = 32;
const ROUNDS = Number(process.env.BENCH_WEBHOOKS_ROUNDS ?? 2);
const RECEIVER_DELAY_MS = 100;
const MIN_THROUGHPUT_RATIO = 0.8;
const SETTLE_TIMEOUT_MS = 180_000;
const DELIVERY_TIMEOUT_MS = 300_000;
const WARMUP = 300;
/** BENCH_CPU_PROF=1: profile ferry in every round (judge the target on a run without it). */
const IS_PROFILING = process.env.BENCH_CPU_PROF === "1";
const PROFILE_DIR = path.join(PROFILES_DIR, NAME);

/** The lane's concurrency for the run: a 100 ms receiver needs ~150 in flight to keep up. */
const WEBHOOKS_CONFIG = { max_concurrency: 256, max_concurrency_per_host: 256 };

interface Receiver {
  readonly url: string;
  /** webhook-id -> deliveries seen, and the first arrival (epoch ms). */
  readonly seen: Map<string, { count: number; firstAt: number; subjectId: string }>;
  secret: string;
  badSignatures: number;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = {
    url: "",
    seen: new Map(),
    secret: "",
    badSignatures: 0,
    close: async () => {},
  };
  const server: Server = createServer(async (request: IncomingMessage, response) => {
    const arrivedAt = Date.now();
    const chunks: Buffer[] = [];
    for await (const chunk of request) {
      chunks.push(chunk as Buffer);
    }
    const body = Buffer.concat(chunks).toString("utf8");
    const id = String(request.headers["webhook-id"]);
    if (
      !verify(
        receiver.secret,
        id,
        String(request.headers["webhook-timestamp"]),
        body,
        String(request.headers["webhook-signature"]),
      )
    ) {
      receiver.badSignatures += 1;
    }
    const entry = receiver.seen.get(id);
    if (entry === undefined) {
      const event = JSON.parse(body) as { data: { id: string } };
      receiver.seen.set(id, { count: 1, firstAt: arrivedAt, subjectId: event.data.id });
    } else {
      entry.count += 1;
    }
    setTimeout(() => response.writeHead(200).end(), RECEIVER_DELAY_MS);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/hooks`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** Standard Webhooks: what the official SDK's unwrap() checks (without its 5-minute window). */
function verify(
  secret: string,
  id: string,
  timestamp: string,
  body: string,
  header: string,
): boolean {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
  return header.split(" ").some((part) => {
    const given = Buffer.from(part.replace(/^v1,/, ""), "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

interface RoundResult {
  readonly withWebhooks: boolean;
  readonly completedPerSecond: number;
  readonly endToEndSeconds: number;
  readonly submitErrors: number;
  /**
   * CPU per response, from the first submit to the last delivery (or to idle without
   * webhooks): ferry's process, and this one's (the clients, and the receiver with webhooks).
   * Both share this machine's two cores, so the receiver's work slows ferry here as a remote
   * receiver would not.
   */
  readonly ferryCpuMsPerResponse: number;
  readonly benchCpuMsPerResponse: number;
  readonly delivered?: {
    readonly distinctIds: number;
    readonly duplicates: number;
    readonly responsesWithoutEvent: number;
    readonly responsesWithSeveralEvents: number;
    readonly badSignatures: number;
    readonly latencyMs: Percentiles;
    /** From the last completion to the last delivery. */
    readonly drainSeconds: number;
    readonly deliveriesPerSecond: number;
  };
}

async function runRound(withWebhooks: boolean): Promise<RoundResult> {
  const receiver = withWebhooks ? await startReceiver() : null;
  const ferry: FerryServer = await startFerry({
    config: {
      outbound: { allow_networks: ["127.0.0.1/32"] },
      webhooks: WEBHOOKS_CONFIG,
    },
    nodeArgs: IS_PROFILING
      ? [
          "--cpu-prof",
          `--cpu-prof-dir=${path.join(PROFILE_DIR, withWebhooks ? "with" : "without")}`,
        ]
      : [],
  });
  const client = createHttpClient(ferry.url, { maxSockets: CLIENTS + 8 });
  try {
    if (receiver !== null) {
      const endpoint = await client.json<{ signing_secret: string }>(
        "POST",
        "/v1/webhook_endpoints",
        {
          body: { name: "bench", url: receiver.url, event_types: ["response.completed"] },
        },
      );
      receiver.secret = endpoint.signing_secret;
    }
    const warmup = await submitBackground(client, {
      count: WARMUP,
      offset: TOTAL,
      clients: CLIENTS,
    });
    if (warmup.errors.length > 0) {
      throw new Error(`warm-up submits failed, e.g. ${warmup.errors[0]}`);
    }
    await waitUntilIdle(client, SETTLE_TIMEOUT_MS);
    if (receiver !== null) {
      await waitFor(() => receiver.seen.size >= WARMUP, DELIVERY_TIMEOUT_MS, "warm-up deliveries");
      receiver.seen.clear();
    }

    const ferryCpuBefore = readCpuSeconds(ferry.pid);
    const benchCpuBefore = process.cpuUsage();
    const cpuPerResponse = () => {
      const bench = process.cpuUsage(benchCpuBefore);
      return {
        ferryCpuMsPerResponse: ((readCpuSeconds(ferry.pid) - ferryCpuBefore) * 1000) / TOTAL,
        benchCpuMsPerResponse: (bench.user + bench.system) / 1000 / TOTAL,
      };
    };
    const run = await submitBackground(client, { count: TOTAL, offset: 0, clients: CLIENTS });
    const idle = await waitUntilIdle(client, SETTLE_TIMEOUT_MS);
    const endToEndMs = idle.at - run.startedAt;
    const base = {
      withWebhooks,
      completedPerSecond: (run.ids.length * 1000) / endToEndMs,
      endToEndSeconds: endToEndMs / 1000,
      submitErrors: run.errors.length,
    };
    if (receiver === null) {
      return { ...base, ...cpuPerResponse() };
    }
    await waitFor(() => receiver.seen.size >= run.ids.length, DELIVERY_TIMEOUT_MS, "deliveries");
    const cpu = cpuPerResponse();
    await sleep(1_000); // any duplicate still on its way
    return { ...base, ...cpu, delivered: summarise(receiver, run.ids, ferry.dataDir) };
  } finally {
    client.close();
    await ferry.stop();
    await receiver?.close();
  }
}

function summarise(
  receiver: Receiver,
  ids: readonly string[],
  dataDir: string,
): NonNullable<RoundResult["delivered"]> {
  const db = new Database(path.join(dataDir, "ferry.db"), { readonly: true });
  const createdAt = new Map<string, number>();
  try {
    for (const row of db
      .prepare("SELECT id, created_at_ms FROM webhook_deliveries")
      .iterate() as Iterable<{ id: string; created_at_ms: number }>) {
      createdAt.set(row.id, row.created_at_ms);
    }
  } finally {
    db.close();
  }
  const wanted = new Set(ids);
  const eventsBySubject = new Map<string, number>();
  const latency = createLatencyRecorder(ids.length);
  let duplicates = 0;
  let firstCreated = Number.POSITIVE_INFINITY;
  let lastCreated = 0;
  let lastArrival = 0;
  for (const [id, entry] of receiver.seen) {
    duplicates += entry.count - 1;
    if (!wanted.has(entry.subjectId)) {
      continue;
    }
    eventsBySubject.set(entry.subjectId, (eventsBySubject.get(entry.subjectId) ?? 0) + 1);
    const created = createdAt.get(id);
    if (created !== undefined) {
      latency.record(entry.firstAt - created);
      firstCreated = Math.min(firstCreated, created);
      lastCreated = Math.max(lastCreated, created);
    }
    lastArrival = Math.max(lastArrival, entry.firstAt);
  }
  const several = [...eventsBySubject.values()].filter((count) => count > 1).length;
  return {
    distinctIds: receiver.seen.size,
    duplicates,
    responsesWithoutEvent: ids.filter((id) => !eventsBySubject.has(id)).length,
    responsesWithSeveralEvents: several,
    badSignatures: receiver.badSignatures,
    latencyMs: percentilesOf(latency),
    drainSeconds: (lastArrival - lastCreated) / 1000,
    deliveriesPerSecond: (receiver.seen.size * 1000) / Math.max(1, lastArrival - firstCreated),
  };
}

async function waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) {
      throw new Error(`${what} did not all arrive within ${timeoutMs} ms`);
    }
    await sleep(20);
  }
}

export const webhooks: Benchmark = {
  name: NAME,
  description: `${TOTAL} background responses with a webhook each (receiver answers after ${RECEIVER_DELAY_MS} ms) vs none`,
  timeLimitMs: 30 * 60_000,
  async run() {
    const machine = describeMachine();
    console.log(formatMachine(machine));
    await buildFerry();
    if (IS_PROFILING) {
      await rm(PROFILE_DIR, { recursive: true, force: true });
    }
    const rounds: RoundResult[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const withWebhooks of [false, true]) {
        console.log(
          `round ${round + 1}: ${TOTAL} background responses ${withWebhooks ? "with" : "without"} webhooks ...`,
        );
        rounds.push(await runRound(withWebhooks));
      }
    }
    const ratios: number[] = [];
    for (let index = 0; index + 1 < rounds.length; index += 2) {
      const without = rounds[index] as RoundResult;
      const withHooks = rounds[index + 1] as RoundResult;
      ratios.push(withHooks.completedPerSecond / without.completedPerSecond);
    }
    const medianRatio = [...ratios].sort((a, b) => a - b)[Math.floor((ratios.length - 1) / 2)] ?? 0;
    const hooked = rounds.filter((round) => round.delivered !== undefined);
    const rows = rounds.map((round, index) => [
      String(Math.floor(index / 2) + 1),
      round.withWebhooks ? "with" : "without",
      fixed(round.completedPerSecond, 0),
      round.delivered === undefined ? "-" : String(round.delivered.distinctIds),
      round.delivered === undefined ? "-" : String(round.delivered.duplicates),
      round.delivered === undefined
        ? "-"
        : `${fixed(round.delivered.latencyMs.p50, 0)} / ${fixed(round.delivered.latencyMs.p90, 0)} / ${fixed(round.delivered.latencyMs.p99, 0)}`,
      round.delivered === undefined ? "-" : fixed(round.delivered.deliveriesPerSecond, 0),
      fixed(round.ferryCpuMsPerResponse, 3),
      fixed(round.benchCpuMsPerResponse, 3),
    ]);
    console.log("");
    console.log(
      formatTable(
        [
          "round",
          "webhooks",
          "completed/s",
          "delivered ids",
          "duplicates",
          "latency p50/p90/p99 ms",
          "deliveries/s",
          "ferry CPU ms/resp",
          "bench CPU ms/resp",
        ],
        rows,
      ),
    );
    console.log(
      `\nthroughput with/without per round: ${ratios.map((ratio) => fixed(ratio)).join(", ")} (median ${fixed(medianRatio)})`,
    );
    const everyOnce = hooked.every(
      (round) =>
        round.delivered !== undefined &&
        round.delivered.duplicates === 0 &&
        round.delivered.responsesWithoutEvent === 0 &&
        round.delivered.responsesWithSeveralEvents === 0 &&
        round.delivered.distinctIds === TOTAL,
    );
    const checks: Check[] = [
      {
        label: `throughput with webhooks / without, median ${fixed(medianRatio)} >= ${MIN_THROUGHPUT_RATIO}`,
        isPass: medianRatio >= MIN_THROUGHPUT_RATIO,
      },
      {
        label: `every event delivered exactly once by webhook-id (${TOTAL} per round, duplicates counted)`,
        isPass: everyOnce,
      },
      {
        label: "every delivery's signature verified",
        isPass: hooked.every((round) => round.delivered?.badSignatures === 0),
      },
      { label: "no submit failed", isPass: rounds.every((round) => round.submitErrors === 0) },
    ];
    await finishBenchmark(NAME, {
      checks,
      profileDir: IS_PROFILING ? path.join(PROFILE_DIR, "with") : null,
      result: {
        machine,
        load: {
          responses: TOTAL,
          clients: CLIENTS,
          rounds: ROUNDS,
          receiverDelayMs: RECEIVER_DELAY_MS,
          webhooks: WEBHOOKS_CONFIG,
        },
        rounds,
        ratios,
        medianRatio,
        checks,
      },
    });
    return { isPass: checks.every((check) => check.isPass) };
  },
};
