import { createHash } from "node:crypto";
import http from "node:http";

/**
 * A fake OpenAI-compatible upstream that behaves like an inference server with a capacity: the
 * floor against which ferry's overhead on a real backend is measured, and the GPU that ferry's
 * adaptive concurrency and prefix scheduling are measured against. Plain node:http, no
 * framework, so its own cost is as small as it gets. Run as a child process by
 * lib/fake-upstream.ts, configured by environment:
 *
 *   PORT, HOST
 *   LATENCY_MS          service time of one call (default 0: answer at once)
 *   KNEE                past this many calls in flight, each call is slower in proportion
 *                       (latency x in-flight / KNEE), as a GPU whose batch is full (0: never)
 *   REJECT_ABOVE        a call arriving while this many are in flight gets a 429 at once (0: never)
 *   PREFIX_CACHE_K      remembers the prefixes of the last K calls; a call whose prefix is among
 *                       them is a prefix-cache hit (0: no cache)
 *   PREFIX_HIT_FACTOR   a hit's service time is latency x this (default 0.5)
 *
 * A call's prefix is its model and every message before the last one (the system prompt and any
 * earlier turns): what an inference server's KV cache can reuse between requests.
 *
 * `GET /stats` reports what it saw (see Stats); `POST /stats/reset` zeroes it.
 */

export interface FakeUpstreamStats {
  /** Calls answered 200. */
  readonly completed: number;
  /** Calls answered 429 (over REJECT_ABOVE). */
  readonly rejected: number;
  readonly maxInFlight: number;
  /** Arrivals whose prefix differs from the previous arrival's. */
  readonly prefixSwitches: number;
  readonly prefixHits: number;
  readonly prefixMisses: number;
  /** Distinct prefixes seen. */
  readonly distinctPrefixes: number;
  /** Service time (arrival to answer) of answered calls, milliseconds. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /**
   * From the first arrival to the last answer since the reset, milliseconds (0 before any):
   * the window in which the upstream had work, measured where the work is done, so a client's
   * polling granularity does not blur it.
   */
  readonly activeMs: number;
  /**
   * Calls in flight averaged over activeMs (time-weighted): how full the upstream's slots were
   * kept. A client that keeps 128 slots busy gets close to 128.
   */
  readonly meanInFlight: number;
}

const latencyMs = Number(process.env.LATENCY_MS ?? 0);
const knee = Number(process.env.KNEE ?? 0);
const rejectAbove = Number(process.env.REJECT_ABOVE ?? 0);
const prefixCacheK = Number(process.env.PREFIX_CACHE_K ?? 0);
const prefixHitFactor = Number(process.env.PREFIX_HIT_FACTOR ?? 0.5);

const MESSAGE = { role: "assistant", content: "The capital of France is Paris." };
const USAGE = { prompt_tokens: 14, completion_tokens: 8, total_tokens: 22 };
const COMPLETION = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: MESSAGE, finish_reason: "stop" }],
  usage: USAGE,
});
const chunk = (delta: object, finishReason: string | null, usage: object | null = null) =>
  `data: ${JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model: "gpt-4o-mini",
    choices: [{ index: 0, delta, finish_reason: finishReason }],
    ...(usage === null ? {} : { usage }),
  })}\n\n`;
const STREAM =
  chunk({ role: "assistant", content: "" }, null) +
  chunk({ content: MESSAGE.content }, null) +
  chunk({}, "stop", USAGE) +
  "data: [DONE]\n\n";
const TOO_MANY = JSON.stringify({
  error: {
    message: "The server is overloaded; try again later.",
    type: "rate_limit_error",
    code: "rate_limit_exceeded",
  },
});

let inFlight = 0;
let maxInFlight = 0;
let completed = 0;
let rejected = 0;
let prefixSwitches = 0;
let prefixHits = 0;
let prefixMisses = 0;
let lastPrefix: string | null = null;
const seenPrefixes = new Set<string>();
let firstArrivalAt: number | null = null;
let lastAnswerAt: number | null = null;
/** The integral of inFlight over time since the first arrival, in call-milliseconds. */
let inFlightArea = 0;
let inFlightChangedAt = 0;
let recentPrefixes: string[] = [];
let serviceTimes: number[] = [];

function prefixOf(body: { model?: unknown; messages?: unknown }): string {
  const messages = Array.isArray(body.messages) ? body.messages.slice(0, -1) : [];
  return createHash("sha1")
    .update(JSON.stringify([body.model ?? null, messages]))
    .digest("base64");
}

/** Notes the call's prefix; true when the cache had it. */
function seePrefix(prefix: string): boolean {
  seenPrefixes.add(prefix);
  if (lastPrefix !== null && prefix !== lastPrefix) {
    prefixSwitches++;
  }
  lastPrefix = prefix;
  if (prefixCacheK <= 0) {
    return false;
  }
  const isHit = recentPrefixes.includes(prefix);
  if (isHit) {
    prefixHits++;
  } else {
    prefixMisses++;
  }
  recentPrefixes.push(prefix);
  if (recentPrefixes.length > prefixCacheK) {
    recentPrefixes = recentPrefixes.slice(-prefixCacheK);
  }
  return isHit;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) {
    return 0;
  }
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Called just before inFlight changes: adds the time spent at the current level. */
function accountInFlight(now: number) {
  if (firstArrivalAt !== null) {
    inFlightArea += inFlight * (now - inFlightChangedAt);
  }
  inFlightChangedAt = now;
}

function stats(): FakeUpstreamStats {
  const sorted = [...serviceTimes].sort((a, b) => a - b);
  const activeMs =
    firstArrivalAt === null || lastAnswerAt === null ? 0 : lastAnswerAt - firstArrivalAt;
  return {
    completed,
    rejected,
    maxInFlight,
    prefixSwitches,
    prefixHits,
    prefixMisses,
    distinctPrefixes: seenPrefixes.size,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    activeMs,
    meanInFlight: activeMs > 0 ? inFlightArea / activeMs : 0,
  };
}

function reset() {
  maxInFlight = inFlight;
  completed = 0;
  rejected = 0;
  prefixSwitches = 0;
  prefixHits = 0;
  prefixMisses = 0;
  lastPrefix = null;
  seenPrefixes.clear();
  recentPrefixes = [];
  serviceTimes = [];
  firstArrivalAt = null;
  lastAnswerAt = null;
  inFlightArea = 0;
}

function answerJson(res: http.ServerResponse, status: number, text: string) {
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
  });
  res.end(text);
}

function chatCompletion(res: http.ServerResponse, text: string) {
  if (rejectAbove > 0 && inFlight >= rejectAbove) {
    rejected++;
    answerJson(res, 429, TOO_MANY);
    return;
  }
  let body: { model?: unknown; messages?: unknown; stream?: unknown } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    answerJson(res, 400, '{"error":{"message":"not JSON","type":"invalid_request_error"}}');
    return;
  }
  const arrivedAt = performance.now();
  firstArrivalAt ??= arrivedAt;
  accountInFlight(arrivedAt);
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  const isHit = seePrefix(prefixOf(body));
  const load = knee > 0 ? Math.max(1, inFlight / knee) : 1;
  const delayMs = latencyMs * load * (isHit ? prefixHitFactor : 1);
  let isDone = false;
  const finish = () => {
    if (!isDone) {
      isDone = true;
      accountInFlight(performance.now());
      inFlight--;
    }
  };
  res.once("close", finish);
  const answer = () => {
    if (res.destroyed) {
      return;
    }
    completed++;
    lastAnswerAt = performance.now();
    serviceTimes.push(lastAnswerAt - arrivedAt);
    if (body.stream === true) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end(STREAM);
    } else {
      answerJson(res, 200, COMPLETION);
    }
    finish();
  };
  if (delayMs <= 0) {
    answer();
  } else {
    setTimeout(answer, delayMs);
  }
}

const server = http.createServer((req, res) => {
  // Read the body to its end before answering, as a real server would.
  const chunks: Buffer[] = [];
  req.on("data", (part: Buffer) => chunks.push(part));
  req.once("end", () => {
    if (req.method === "GET" && req.url === "/health") {
      answerJson(res, 200, '{"status":"ok"}');
      return;
    }
    if (req.method === "GET" && req.url === "/stats") {
      answerJson(res, 200, JSON.stringify(stats()));
      return;
    }
    if (req.method === "POST" && req.url === "/stats/reset") {
      reset();
      answerJson(res, 200, JSON.stringify(stats()));
      return;
    }
    if (req.method === "POST" && req.url === "/v1/chat/completions") {
      chatCompletion(res, Buffer.concat(chunks).toString("utf8"));
      return;
    }
    answerJson(res, 404, '{"error":{"message":"not found","type":"invalid_request_error"}}');
  });
});
// Longer than any client's idle timeout, so a kept-alive connection is never closed under it.
server.keepAliveTimeout = 65_000;
server.maxRequestsPerSocket = 0;
server.listen(Number(process.env.PORT), process.env.HOST ?? "127.0.0.1");

process.once("SIGTERM", () => process.exit(0));
