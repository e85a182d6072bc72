import type { Benchmark } from "./lib/benchmark.js";
import { buildFerry, type FerryServer, startFerry } from "./lib/ferry-server.js";
import { finishBenchmark } from "./lib/finish.js";
import { createHttpClient, type HttpClient } from "./lib/http-client.js";
import { QUESTIONS } from "./lib/questions.js";
import { type Check, describeMachine, fixed, formatMachine, formatTable } from "./lib/report.js";
import { sleep } from "./lib/sleep.js";

/**
 * Fairness between tenants (the Hardening issue's item 4). Two projects share one backend: the
 * mock with a 20 ms delay per request and 8 slots, so the backend, not ferry's CPU, is what they
 * compete for (400 requests/s at most).
 *
 * Solo: project B's 2,000-line batch runs alone. Flood: project A queues 4,000 background
 * responses from 32 clients (more than the backend runs in the window), then goes on submitting
 * from 8 while B creates the same batch. B's progress rate is the slope of the batch's
 * `request_counts.completed`, polled every 100 ms, over 5 s from its first `in_progress` poll (or
 * until it completes); the flood window counts only if A still had work queued at its end, so
 * the whole window was contended. Target: B's rate during the flood at least a quarter of its
 * solo rate. Before the fair claim, lanes were strictly ordered: background responses went first
 * and the batch stood still until A's backlog had drained.
 *
 * Each phase runs on a fresh ferry (so no backlog carries over), rounds alternate solo and flood,
 * and the ratio reported is the median round's. FAIRNESS_ROUNDS sets the number of rounds (2).
 * FAIRNESS_FERRY_ENTRY runs another build (e.g. main's dist/main.js) to compare.
 */

const NAME = "fairness";
const MODEL = "gpt-4o-mini";
const BATCH_LINES = 2_000;
/** A queues this many before B's batch arrives: more than the backend runs in the window. */
const PREFILL_RESPONSES = 4_000;
const PREFILL_CLIENTS = 32;
/** Then A goes on submitting from this many clients while B's batch is measured. */
const SUSTAIN_CLIENTS = 8;
/** B's progress is measured over this long once its batch is in progress (or until it ends). */
const MEASURE_SECONDS = 5;
const POLL_MS = 100;
const MIN_RATIO = 0.25;
const SLOTS = 8;
const DELAY_MS = 20;
/** A batch must be in progress within this of its creation. */
const START_TIMEOUT_MS = 60_000;
const KEY_A = "sk-bench-fairness-a";
const KEY_B = "sk-bench-fairness-b";

interface Progress {
  /** Lines completed per second over the measured window. */
  readonly linesPerSecond: number;
  readonly windowSeconds: number;
  readonly linesInWindow: number;
  readonly finalCompleted: number;
  /** Background responses project A had accepted by the end of the window (flood only). */
  readonly floodAccepted: number;
  readonly floodRejected: number;
  /** Background responses of A still queued when the window ended (flood only). */
  readonly floodQueuedAtEnd: number;
}

interface HealthBody {
  readonly backends: readonly { queued: number; in_flight: number }[];
}

interface BatchBody {
  readonly id: string;
  readonly status: string;
  readonly request_counts: { completed: number; failed: number; total: number };
}

export const fairness: Benchmark = {
  name: NAME,
  description: `project B's ${BATCH_LINES}-line batch alone vs during project A's flood of background responses`,
  timeLimitMs: 10 * 60_000,
  async run() {
    const machine = describeMachine();
    console.log(formatMachine(machine));
    const entry = process.env.FAIRNESS_FERRY_ENTRY;
    if (entry === undefined) {
      await buildFerry();
    }
    const rounds = Number(process.env.FAIRNESS_ROUNDS ?? "2");
    const results: { solo: Progress; flood: Progress; ratio: number }[] = [];
    for (let round = 1; round <= rounds; round++) {
      console.log(`round ${round}/${rounds}: solo ...`);
      const solo = await withFerry(entry, (ferry) => measureSolo(ferry));
      console.log(`  solo ${fixed(solo.linesPerSecond, 0)} lines/s; flood ...`);
      const flood = await withFerry(entry, (ferry) => measureDuringFlood(ferry));
      const ratio = flood.linesPerSecond / solo.linesPerSecond;
      console.log(
        `  flood ${fixed(flood.linesPerSecond, 0)} lines/s (A: ${flood.floodAccepted} accepted, ${flood.floodQueuedAtEnd} still queued); ratio ${fixed(ratio, 3)}`,
      );
      results.push({ solo, flood, ratio });
    }
    const sorted = [...results].sort((a, b) => a.ratio - b.ratio);
    const median = sorted[Math.floor((sorted.length - 1) / 2)];
    const medianRatio = median?.ratio ?? 0;
    const checks: Check[] = [
      {
        label: `B's rate during A's flood / solo ${fixed(medianRatio, 3)} >= ${MIN_RATIO} (median of ${results.length} rounds)`,
        isPass: medianRatio >= MIN_RATIO,
      },
      {
        label: "A's flood still had background responses queued at the end of every window",
        isPass: results.every((result) => result.flood.floodQueuedAtEnd > 0),
      },
    ];
    console.log("");
    console.log(
      formatTable(
        [
          "round",
          "solo lines/s",
          "flood lines/s",
          "ratio",
          "window s (solo / flood)",
          "A accepted / rejected / queued at end",
        ],
        results.map((result, index) => [
          String(index + 1),
          fixed(result.solo.linesPerSecond, 0),
          fixed(result.flood.linesPerSecond, 0),
          fixed(result.ratio, 3),
          `${fixed(result.solo.windowSeconds, 1)} / ${fixed(result.flood.windowSeconds, 1)}`,
          `${result.flood.floodAccepted} / ${result.flood.floodRejected} / ${result.flood.floodQueuedAtEnd}`,
        ]),
      ),
    );
    await finishBenchmark(NAME, {
      checks,
      profileDir: null,
      result: {
        machine,
        load: {
          batchLines: BATCH_LINES,
          prefillResponses: PREFILL_RESPONSES,
          prefillClients: PREFILL_CLIENTS,
          sustainClients: SUSTAIN_CLIENTS,
          measureSeconds: MEASURE_SECONDS,
          backend: `mock, ${DELAY_MS} ms per request, ${SLOTS} slots`,
          entry: entry ?? "this checkout's dist/main.js",
        },
        targets: { minRatio: MIN_RATIO },
        rounds: results,
        medianRatio,
        pass: checks.every((check) => check.isPass),
      },
    });
    return { isPass: checks.every((check) => check.isPass) };
  },
};

async function withFerry<T>(
  entry: string | undefined,
  fn: (ferry: FerryServer) => Promise<T>,
): Promise<T> {
  const ferry = await startFerry({
    ...(entry === undefined ? {} : { entry }),
    config: {
      backends: [
        { name: "mock", type: "mock", models: ["*"], max_concurrency: SLOTS, ttft_ms: DELAY_MS },
      ],
    },
    env: { FERRY_API_KEYS: `${KEY_A}@proj_a,${KEY_B}@proj_b` },
  });
  try {
    return await fn(ferry);
  } finally {
    await ferry.stop();
  }
}

function createBatch(client: HttpClient): Promise<BatchBody> {
  return client.json<BatchBody>("POST", "/v1/batches", {
    body: {
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
      requests: Array.from({ length: BATCH_LINES }, (_, index) => ({
        custom_id: `line-${index}`,
        body: {
          model: MODEL,
          messages: [{ role: "user", content: QUESTIONS[index % QUESTIONS.length] }],
        },
      })),
    },
    timeoutMs: 60_000,
  });
}

/**
 * Polls the batch until it completes or `windowMs` after it was first seen in progress, and
 * returns the slope of its completed count between the first `in_progress` poll and the last.
 */
async function followBatch(
  client: HttpClient,
  id: string,
  windowMs: number,
): Promise<Omit<Progress, "floodAccepted" | "floodRejected" | "floodQueuedAtEnd">> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  let first: { at: number; completed: number } | null = null;
  let last: { at: number; completed: number } | null = null;
  let finalCompleted = 0;
  for (;;) {
    const body = await client.json<BatchBody>("GET", `/v1/batches/${id}`);
    const at = performance.now();
    finalCompleted = body.request_counts.completed;
    if (body.status === "in_progress" || body.status === "finalizing") {
      first ??= { at, completed: finalCompleted };
      last = { at, completed: finalCompleted };
    }
    if (body.status !== "validating" && body.status !== "in_progress") {
      break;
    }
    if (first === null ? at > deadline : at - first.at >= windowMs) {
      break;
    }
    await sleep(POLL_MS);
  }
  if (first === null || last === null || last.at === first.at) {
    throw new Error(`batch ${id} was never seen in progress over a measurable window`);
  }
  const windowSeconds = (last.at - first.at) / 1000;
  const linesInWindow = last.completed - first.completed;
  return {
    linesPerSecond: linesInWindow / windowSeconds,
    windowSeconds,
    linesInWindow,
    finalCompleted,
  };
}

async function measureSolo(ferry: FerryServer): Promise<Progress> {
  const clientB = createHttpClient(ferry.url, { maxSockets: 4, apiKey: KEY_B });
  try {
    const batch = await createBatch(clientB);
    const progress = await followBatch(clientB, batch.id, MEASURE_SECONDS * 1000);
    return { ...progress, floodAccepted: 0, floodRejected: 0, floodQueuedAtEnd: 0 };
  } finally {
    clientB.close();
  }
}

async function measureDuringFlood(ferry: FerryServer): Promise<Progress> {
  const clientA = createHttpClient(ferry.url, { maxSockets: PREFILL_CLIENTS + 4, apiKey: KEY_A });
  const clientB = createHttpClient(ferry.url, { maxSockets: 4, apiKey: KEY_B });
  let accepted = 0;
  let rejected = 0;
  let isStopped = false;
  const submitWhile = (clients: number, keepGoing: (index: number) => boolean) =>
    Promise.all(
      Array.from({ length: clients }, async (_, client) => {
        for (let index = client; keepGoing(index); index += clients) {
          const reply = await clientA.request("POST", "/v1/responses", {
            body: { model: MODEL, input: QUESTIONS[index % QUESTIONS.length], background: true },
          });
          if (reply.status === 200) {
            accepted++;
          } else {
            rejected++;
          }
        }
      }),
    );
  try {
    await submitWhile(PREFILL_CLIENTS, (index) => index < PREFILL_RESPONSES);
    const sustained = submitWhile(SUSTAIN_CLIENTS, () => !isStopped);
    const batch = await createBatch(clientB);
    const progress = await followBatch(clientB, batch.id, MEASURE_SECONDS * 1000);
    // The window counts only if A's flood still had work queued at its end.
    const health = await clientB.json<HealthBody>("GET", "/health");
    isStopped = true;
    await sustained;
    const queued = health.backends.reduce((sum, backend) => sum + backend.queued, 0);
    const remainingOfBatch = BATCH_LINES - progress.finalCompleted;
    return {
      ...progress,
      floodAccepted: accepted,
      floodRejected: rejected,
      floodQueuedAtEnd: Math.max(0, queued - remainingOfBatch),
    };
  } finally {
    isStopped = true;
    clientA.close();
    clientB.close();
  }
}
