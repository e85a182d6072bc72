/**
 * Fuzz run: random and mutated requests against every route of a real ferry server.
 *
 *   npx tsx scripts/fuzz/run.ts [--seed N] [--requests 3000] [--time-limit 180] [--concurrency 8]
 *
 * Starts `ferry serve` in a child process on 127.0.0.1 (PORT=0, a temp data dir, open mode, a
 * retention of `--retention-seconds` (2) swept every second, so objects vanish while in use; 0
 * keeps everything), seeds a few real objects, then sends `--requests` requests (or stops at `--time-limit`
 * seconds), checking /health as it goes. Prints the counts per status class and code. Exits 1 if
 * any request got a 5xx, hung or lost its connection, or if the server stopped answering /health
 * or died. The seed is
 * printed; the same seed gives the same request N (ids aside), so a failure can be replayed.
 *
 * Then the heavy shapes (lib/heavy-shapes.ts; `--skip-heavy` leaves them out) run against a second
 * server with the default retention: a 300 MB JSONL line, a 300 MB body, a 60 MB line in an
 * uploaded batch file, maximal embeddings requests and a batch of them with its results, a long
 * previous_response_id chain of 4 MB turns, an upload cut off half-way. The run fails if any of
 * them gets a 5xx or a dropped connection, if the server logs an error, or if /health took more
 * than 5 s to answer while they ran (one request stalled everyone).
 * Loopback only: nothing is sent anywhere else.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startFerryChild } from "./lib/ferry-child.js";
import { type FuzzRequest, generateRequest, type IdPools, listRoutes } from "./lib/generate.js";
import { runHeavyShapes, STALL_LIMIT_MS } from "./lib/heavy-shapes.js";
import { createRandom } from "./lib/random.js";

const REQUEST_TIMEOUT_MS = 45_000; // above the longest legitimate wait (wait_ms <= 30 s)
const HEALTH_EVERY_MS = 2_000;
const HEALTH_TIMEOUT_MS = 5_000;
const POOL_LIMIT = 200;

interface Failure {
  readonly kind: "5xx" | "timeout" | "network";
  readonly index: number;
  readonly request: FuzzRequest;
  readonly status: number | null;
  readonly detail: string;
  readonly requestId: string | null;
}

const { values: args } = parseArgs({
  options: {
    seed: { type: "string" },
    requests: { type: "string", default: "3000" },
    "time-limit": { type: "string", default: "180" },
    concurrency: { type: "string", default: "8" },
    /** Retention of finished responses and batches, so the sweeper deletes while requests run. */
    "retention-seconds": { type: "string", default: "2" },
    "keep-data": { type: "boolean", default: false },
    "skip-heavy": { type: "boolean", default: false },
    /** Run only the heavy shapes whose name contains this, e.g. `--heavy-only longChain`. */
    "heavy-only": { type: "string" },
    /** Print every request with its status and the start of its answer. */
    trace: { type: "boolean", default: false },
  },
});

const seed = args.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(args.seed);
const totalRequests = Number(args.requests);
const timeLimitMs = Number(args["time-limit"]) * 1000;
const concurrency = Number(args.concurrency);
const retentionSeconds = Number(args["retention-seconds"]);
for (const [name, value] of Object.entries({
  seed,
  totalRequests,
  timeLimitMs,
  concurrency,
  retentionSeconds,
})) {
  if (!Number.isInteger(value) || value < 0) {
    console.error(`fuzz: --${name} must be a non-negative integer`);
    process.exit(2);
  }
}

const dataDir = mkdtempSync(path.join(tmpdir(), "ferry-fuzz-"));
console.log(
  `fuzz: seed ${seed}, ${totalRequests} requests, at most ${timeLimitMs / 1000} s, ${concurrency} at once`,
);
console.log(`fuzz: data dir ${dataDir}, retention ${retentionSeconds} s`);

// The sweeper runs every second with a short retention, deleting objects while they are in use.
const configFile = path.join(dataDir, "ferry.json");
writeFileSync(
  configFile,
  JSON.stringify({
    retention: {
      responses_seconds: retentionSeconds,
      batches_seconds: retentionSeconds,
      sweep_interval_seconds: 1,
    },
  }),
);
const server = await startFerryChild({ FERRY_DATA_DIR: dataDir, FERRY_CONFIG: configFile });
const base = new URL(server.url);
if (base.hostname !== "127.0.0.1") {
  await server.stop();
  throw new Error(`refusing to fuzz ${server.url}: loopback only`);
}
console.log(`fuzz: ferry (pid ${server.pid}) on ${server.url}`);

const pools: IdPools = { response: [], file: [], batchFile: [], batch: [], stream: [] };
const byClass = new Map<string, number>();
const byStatus = new Map<number, number>();
const byRoute = new Map<string, Map<string, number>>();
const failures: Failure[] = [];
let healthFailure: string | null = null;
/** Set when /health failed while requests ran: the run stopped early because one stalled it. */
let healthFailedDuringRun: string | null = null;

function remember(json: unknown): void {
  if (typeof json !== "object" || json === null) {
    return;
  }
  const { id, purpose } = json as { id?: unknown; purpose?: unknown };
  if (typeof id !== "string") {
    return;
  }
  const pool = id.startsWith("resp_")
    ? pools.response
    : id.startsWith("file-")
      ? purpose === "batch"
        ? pools.batchFile
        : pools.file
      : id.startsWith("batch_")
        ? pools.batch
        : id.startsWith("stream_")
          ? pools.stream
          : null;
  if (pool !== null && pool.length < POOL_LIMIT) {
    pool.push(id);
    if (pool === pools.batchFile) {
      pools.file.push(id);
    }
  }
}

function count(request: FuzzRequest, status: number | "timeout" | "network"): void {
  const statusClass = typeof status === "number" ? `${Math.floor(status / 100)}xx` : status;
  byClass.set(statusClass, (byClass.get(statusClass) ?? 0) + 1);
  if (typeof status === "number") {
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }
  const route = byRoute.get(request.route) ?? new Map<string, number>();
  route.set(statusClass, (route.get(statusClass) ?? 0) + 1);
  byRoute.set(request.route, route);
}

async function send(index: number, request: FuzzRequest): Promise<void> {
  let res: Response;
  try {
    res = await fetch(new URL(request.path, base), {
      method: request.method,
      headers: request.headers,
      body: request.body as RequestInit["body"],
      redirect: "manual",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (thrown) {
    const err = thrown instanceof Error ? thrown : new Error(String(thrown));
    const kind = err.name === "TimeoutError" ? "timeout" : "network";
    count(request, kind);
    failures.push({
      kind,
      index,
      request,
      status: null,
      detail: `${err.name}: ${err.message} ${String((err as { cause?: unknown }).cause ?? "")}`,
      requestId: null,
    });
    return;
  }
  let text = "";
  try {
    text = await res.text();
  } catch (thrown) {
    const err = thrown instanceof Error ? thrown : new Error(String(thrown));
    const kind = err.name === "TimeoutError" ? "timeout" : "network";
    count(request, kind);
    failures.push({
      kind,
      index,
      request,
      status: res.status,
      detail: `reading the body: ${err.message}`,
      requestId: res.headers.get("x-request-id"),
    });
    return;
  }
  count(request, res.status);
  if (args.trace) {
    console.log(
      `#${index} ${request.method} ${request.path.slice(0, 120)} [${request.summary.slice(0, 120)}] -> ${res.status} ${text.slice(0, 160)}`,
    );
  }
  if (res.status >= 500) {
    failures.push({
      kind: "5xx",
      index,
      request,
      status: res.status,
      detail: text.slice(0, 300),
      requestId: res.headers.get("x-request-id"),
    });
  } else if (
    res.status < 300 &&
    (res.headers.get("content-type") ?? "").startsWith("application/json")
  ) {
    try {
      remember(JSON.parse(text));
    } catch {
      // Not JSON after all: nothing to remember.
    }
  }
}

async function checkHealth(): Promise<boolean> {
  try {
    const res = await fetch(new URL("/health", base), {
      signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
    });
    await res.text();
    if (res.status === 200) {
      return true;
    }
    healthFailure = `/health answered ${res.status}`;
  } catch (thrown) {
    healthFailure = `/health did not answer: ${thrown instanceof Error ? thrown.message : String(thrown)}`;
  }
  return false;
}

/** A few real objects first, so that ids in paths and bodies also reach stored things. */
async function seedObjects(): Promise<void> {
  const post = async (route: string, body: unknown) => {
    const res = await fetch(new URL(route, base), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { id?: string };
    remember(json);
    return json;
  };
  const upload = async (purpose: string, name: string, text: string) => {
    const form = new FormData();
    form.append("purpose", purpose);
    form.append("file", new Blob([text]), name);
    const res = await fetch(new URL("/v1/files", base), { method: "POST", body: form });
    const json = (await res.json()) as { id?: string };
    remember(json);
    return json;
  };
  await post("/v1/responses", { model: "gpt-4o-mini", input: "seed" });
  await post("/v1/responses", { model: "gpt-4o-mini", input: "seed", background: true });
  const stream = await post("/v1/streams", { name: "fuzz" });
  await post("/v1/responses", {
    model: "gpt-4o-mini",
    input: "item",
    metadata: { stream_id: stream.id },
  });
  await upload("user_data", "notes.txt", "hello\n");
  const line = JSON.stringify({
    custom_id: "a",
    method: "POST",
    url: "/v1/chat/completions",
    body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
  });
  const input = await upload("batch", "input.jsonl", `${line}\n`);
  await post("/v1/batches", {
    input_file_id: input.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
}

const routes = listRoutes();
const startedAt = Date.now();
await seedObjects();
let next = 0;
let isStopping = false;
const healthTimer = setInterval(() => {
  void checkHealth().then((ok) => {
    if (!ok && !isStopping) {
      isStopping = true;
      healthFailedDuringRun = `${healthFailure} after ${next} requests were started (one of the last ${concurrency} stalled the server)`;
    }
  });
}, HEALTH_EVERY_MS);

async function worker(): Promise<void> {
  while (!isStopping && next < totalRequests && Date.now() - startedAt < timeLimitMs) {
    const index = next++;
    const request = generateRequest(createRandom(seed, index), routes, pools);
    await send(index, request);
    if (server.exitCode() !== undefined) {
      isStopping = true;
    }
  }
}

await Promise.all(Array.from({ length: Math.max(1, concurrency) }, () => worker()));
clearInterval(healthTimer);
const durationMs = Date.now() - startedAt;
const isHealthyAtEnd = server.exitCode() === undefined && (await checkHealth());
const exitedEarly = server.exitCode();
const shutdownCode = await server.stop();
if (!args["keep-data"]) {
  rmSync(dataDir, { recursive: true, force: true });
}

// The report.
const sent = [...byClass.values()].reduce((sum, value) => sum + value, 0);
console.log(`\nfuzz: ${sent} requests in ${(durationMs / 1000).toFixed(1)} s (seed ${seed})`);
console.log("by class:   ", Object.fromEntries([...byClass].sort()));
console.log("by status:  ", Object.fromEntries([...byStatus].sort((a, b) => a[0] - b[0])));
console.log("by route:");
for (const [route, classes] of [...byRoute].sort()) {
  console.log(`  ${route.padEnd(44)} ${JSON.stringify(Object.fromEntries([...classes].sort()))}`);
}
for (const failure of failures.slice(0, 20)) {
  const logged = server.errors.find((error) => error.requestId === failure.requestId);
  console.log(
    `\n${failure.kind} #${failure.index} ${failure.request.method} ${failure.request.path.slice(0, 200)} -> ${failure.status ?? "-"}\n` +
      `  content-type: ${failure.request.headers["content-type"] ?? "(none)"}\n` +
      `  body: ${failure.request.summary.slice(0, 200)}\n  answer: ${failure.detail}` +
      (logged === undefined
        ? ""
        : `\n  server: ${logged.stack.split("\n").slice(0, 6).join("\n    ")}`),
  );
}
if (exitedEarly !== undefined || failures.length > 0) {
  // Info lines aside: what the server said about the failures (stderr included).
  const said = server
    .outputTail()
    .split("\n")
    .filter((line) => !line.startsWith('{"level":30'))
    .join("\n");
  console.log(
    `\n${exitedEarly === undefined ? "" : "the server died; "}the end of its output:\n${said}`,
  );
}
if (server.errors.length > 0) {
  console.log(`\nserver logged ${server.errors.length} unhandled errors`);
}
console.log(
  `\nhealth: ${isHealthyAtEnd ? "answering" : `NOT answering (${healthFailure ?? "exited"})`}; ` +
    `server ${exitedEarly === undefined ? `shut down with code ${shutdownCode}` : `DIED with code ${exitedEarly}`}`,
);
console.log(
  JSON.stringify({
    seed,
    requests: sent,
    durationMs,
    byClass: Object.fromEntries(byClass),
    failures: failures.length,
    healthy: isHealthyAtEnd,
  }),
);
// A dropped connection fails the run too: each one seen so far was a server bug (a crash, a
// body stream opened and never read).
if (healthFailedDuringRun !== null) {
  console.log(`\nhealth failed during the run: ${healthFailedDuringRun}`);
}
const isFailed =
  failures.length > 0 ||
  !isHealthyAtEnd ||
  exitedEarly !== undefined ||
  healthFailedDuringRun !== null;
const isHeavyFailed = args["skip-heavy"] ? false : !(await runHeavyPhase());
process.exit(isFailed || isHeavyFailed ? 1 : 0);

/** The heavy shapes against a fresh server; true when every one held. */
async function runHeavyPhase(): Promise<boolean> {
  const heavyDir = mkdtempSync(path.join(tmpdir(), "ferry-fuzz-heavy-"));
  console.log(`\nfuzz: heavy shapes, data dir ${heavyDir}`);
  const heavyServer = await startFerryChild({ FERRY_DATA_DIR: heavyDir });
  const report = await runHeavyShapes(
    heavyServer.url,
    (line) => console.log(line),
    args["heavy-only"],
  );
  const diedWith = heavyServer.exitCode();
  const isHealthy = diedWith === undefined;
  const errorLines = [...heavyServer.errorLines];
  await heavyServer.stop();
  if (!args["keep-data"]) {
    rmSync(heavyDir, { recursive: true, force: true });
  }
  const failed = report.outcomes.filter((outcome) => outcome.failure !== null);
  for (const line of errorLines.slice(0, 10)) {
    console.log(`heavy: the server logged: ${line.slice(0, 600)}`);
  }
  if (!isHealthy) {
    console.log(
      `heavy: the server DIED (${diedWith}); the end of its output:\n${heavyServer.outputTail()}`,
    );
  }
  const isStalled = report.worstHealthMs > STALL_LIMIT_MS;
  console.log(
    `heavy: ${report.outcomes.length - failed.length}/${report.outcomes.length} shapes held; ` +
      `slowest /health ${Math.round(report.worstHealthMs)} ms${isStalled ? " (STALLED)" : ""}; ` +
      `${errorLines.length} error lines logged; server ${isHealthy ? "up" : "DIED"}`,
  );
  return failed.length === 0 && isHealthy && !isStalled && errorLines.length === 0;
}
