import http from "node:http";

/**
 * The heavy shapes: requests too big to send at random, each aimed at a way one request could
 * take the whole server down (a huge JSONL line, a body far past the limit, a maximal embeddings
 * answer, a batch of them and its results, a long previous_response_id chain of big turns, an
 * upload cut off half-way). None of them may get a 5xx or a dropped connection, and while they
 * run a probe asks /health every PROBE_EVERY_MS: its slowest answer is the longest time the
 * server stopped serving everyone else.
 */

export interface HeavyOutcome {
  readonly shape: string;
  /** What the shape ended with, for the report: the statuses seen, the bytes read. */
  readonly detail: string;
  /** null when the shape held; else what went wrong. */
  readonly failure: string | null;
}

export interface HeavyReport {
  readonly outcomes: readonly HeavyOutcome[];
  /** The slowest /health answer while the shapes ran. */
  readonly worstHealthMs: number;
}

const MB = 1024 * 1024;
const PROBE_EVERY_MS = 250;
const REQUEST_TIMEOUT_MS = 180_000;
/** The server is stalled if /health takes longer than this. */
export const STALL_LIMIT_MS = 5_000;

interface Reply {
  readonly status: number;
  readonly bytes: number;
  /** The first 2 kB of the answer. */
  readonly head: string;
}

/**
 * One request over node:http with the body from `chunks` (written with backpressure). Unlike
 * fetch, a server that answers before the body is all sent (a 413) is read, not seen as an error:
 * the rest of the body is then not written. The answer is read to the end but not kept.
 */
function send(
  base: URL,
  method: string,
  path: string,
  headers: Record<string, string>,
  chunks?: Iterable<Buffer | string>,
  abortAfterBytes?: number,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let isAnswered = false;
    const request = http.request(
      { host: base.hostname, port: base.port, method, path, headers, timeout: REQUEST_TIMEOUT_MS },
      (response) => {
        isAnswered = true;
        let bytes = 0;
        let head = "";
        response.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
          if (head.length < 2048) {
            head += chunk.toString("utf8", 0, Math.min(chunk.length, 2048));
          }
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, bytes, head }));
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", (err) => {
      if (abortAfterBytes !== undefined && !isAnswered) {
        resolve({ status: 0, bytes: 0, head: "(aborted by us)" });
      } else if (!isAnswered) {
        reject(err);
      }
    });
    if (chunks === undefined) {
      request.end();
      return;
    }
    const iterator = chunks[Symbol.iterator]();
    let written = 0;
    const writeMore = () => {
      while (!isAnswered) {
        const next = iterator.next();
        if (next.done) {
          request.end();
          return;
        }
        written += Buffer.byteLength(next.value);
        if (abortAfterBytes !== undefined && written >= abortAfterBytes) {
          request.write(next.value, () => request.destroy());
          return;
        }
        if (!request.write(next.value)) {
          request.once("drain", writeMore);
          return;
        }
      }
    };
    writeMore();
  });
}

function json(body: unknown): [Buffer] {
  return [Buffer.from(JSON.stringify(body))];
}

const JSON_HEADERS = { "content-type": "application/json" };

/** `total` bytes of `fill`, in 1 MB chunks, after `prefix`. */
function* repeated(prefix: string, fill: string, total: number): Generator<Buffer> {
  yield Buffer.from(prefix);
  const chunk = Buffer.from(fill.repeat(Math.ceil(MB / fill.length)).slice(0, MB));
  for (let sent = 0; sent < total; sent += chunk.length) {
    yield chunk;
  }
}

function judge(shape: string, replies: readonly Reply[], expect: (reply: Reply) => string | null) {
  const statuses = replies.map((reply) => reply.status).join(",");
  const problems = replies
    .map((reply) => (reply.status >= 500 ? `a ${reply.status}: ${reply.head.slice(0, 200)}` : null))
    .concat(replies.map(expect))
    .filter((problem): problem is string => problem !== null);
  return {
    shape,
    detail: `statuses ${statuses}; ${replies.reduce((sum, reply) => sum + reply.bytes, 0)} bytes read`,
    failure: problems.length === 0 ? null : problems.join("; "),
  };
}

const isClientError = (reply: Reply) =>
  reply.status >= 400 && reply.status < 500
    ? null
    : `expected a 4xx, got ${reply.status}: ${reply.head.slice(0, 200)}`;
const isOk = (reply: Reply) =>
  reply.status === 200 ? null : `expected 200, got ${reply.status}: ${reply.head.slice(0, 200)}`;

async function hugeJsonlLine(base: URL): Promise<HeavyOutcome> {
  // One ~300 MB line with no newline: it must be refused by its length, not read into a string.
  const prefix =
    '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"';
  const reply = await send(
    base,
    "POST",
    "/v1/batches",
    { "content-type": "application/x-ndjson" },
    repeated(prefix, "x", 300 * MB),
  );
  return judge("a 300 MB JSONL line", [reply], isClientError);
}

async function bodyPastTheLimit(base: URL): Promise<HeavyOutcome> {
  // Valid 8 kB lines, 300 MB of them (under 50,000 requests): past the batch body limit, a 413.
  const line = `${JSON.stringify({ content: "hello ".repeat(1365) })}\n`;
  const reply = await send(
    base,
    "POST",
    "/v1/batches?model=gpt-4o-mini",
    { "content-type": "application/x-ndjson" },
    repeated("", line, 300 * MB),
  );
  return judge("a 300 MB JSONL body", [reply], (r) =>
    r.status === 413 ? null : `expected 413, got ${r.status}: ${r.head.slice(0, 200)}`,
  );
}

async function hugeLineInUploadedFile(base: URL): Promise<HeavyOutcome> {
  // A batch input file whose one line is 60 MB: the upload is fine, the batch fails validation.
  const boundary = "ferryfuzzboundary";
  const head =
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n` +
    "Content-Type: application/jsonl\r\n\r\n" +
    '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"';
  const tail = `"}]}}\n\r\n--${boundary}--\r\n`;
  const upload = await send(
    base,
    "POST",
    "/v1/files",
    { "content-type": `multipart/form-data; boundary=${boundary}` },
    (function* () {
      yield* repeated(head, "y", 60 * MB);
      yield Buffer.from(tail);
    })(),
  );
  const replies = [upload];
  if (upload.status === 200) {
    const fileId = (JSON.parse(upload.head) as { id: string }).id;
    const created = await send(
      base,
      "POST",
      "/v1/batches",
      JSON_HEADERS,
      json({ input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" }),
    );
    replies.push(created);
    if (created.status === 200) {
      const batchId = (JSON.parse(created.head) as { id: string }).id;
      replies.push(await waitForBatch(base, batchId));
    }
  }
  return judge("a 60 MB line in an uploaded batch file", replies, (reply) =>
    reply.status < 500 ? null : `got ${reply.status}`,
  );
}

async function waitForBatch(base: URL, batchId: string): Promise<Reply> {
  const deadline = Date.now() + REQUEST_TIMEOUT_MS;
  for (;;) {
    const reply = await send(base, "GET", `/v1/batches/${batchId}`, {});
    const status =
      reply.status === 200 ? (JSON.parse(reply.head) as { status: string }).status : "";
    if (
      reply.status !== 200 ||
      ["completed", "failed", "cancelled", "expired"].includes(status) ||
      Date.now() > deadline
    ) {
      return reply;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const MAX_EMBEDDINGS = {
  model: "text-embedding-3-large",
  input: Array.from({ length: 2048 }, (_, index) => `embedding input number ${index}`),
};

async function maximalEmbeddings(base: URL): Promise<HeavyOutcome> {
  // Two at once of the largest answer OpenAI allows: 2,048 vectors of 3,072 floats each.
  const replies = await Promise.all(
    [1, 2].map(() => send(base, "POST", "/v1/embeddings", JSON_HEADERS, json(MAX_EMBEDDINGS))),
  );
  return judge("2 maximal embeddings requests", replies, isOk);
}

async function embeddingsBatchAndResults(base: URL): Promise<HeavyOutcome> {
  const requests = Array.from({ length: 6 }, (_, index) => ({
    custom_id: `e${index}`,
    method: "POST",
    url: "/v1/embeddings",
    body: MAX_EMBEDDINGS,
  }));
  const created = await send(
    base,
    "POST",
    "/v1/batches",
    JSON_HEADERS,
    json({ endpoint: "/v1/embeddings", completion_window: "24h", requests }),
  );
  const replies = [created];
  if (created.status === 200) {
    const batchId = (JSON.parse(created.head) as { id: string }).id;
    replies.push(await waitForBatch(base, batchId));
    replies.push(await send(base, "GET", `/v1/batches/${batchId}/results`, {}));
    replies.push(await send(base, "GET", `/v1/batches/${batchId}/results.jsonl`, {}));
  }
  return judge("a batch of 6 maximal embeddings lines, then its results", replies, isOk);
}

async function longChain(base: URL): Promise<HeavyOutcome> {
  // One 30 MB turn first (past any model's context: refused before any work), then turns of
  // 200 kB on one previous_response_id chain until the context limit says no. Each answer is a
  // 200 or, once the history is too long, a 400 (or a 413 for a body past the JSON limit).
  const replies: Reply[] = [];
  const words = "lorem ipsum dolor sit amet ";
  const request = (input: string, previous: string | null) =>
    send(
      base,
      "POST",
      "/v1/responses",
      JSON_HEADERS,
      json({
        model: "gpt-4o-mini",
        input,
        max_output_tokens: 16,
        ...(previous === null ? {} : { previous_response_id: previous }),
      }),
    );
  replies.push(await request(words.repeat((30 * MB) / words.length), null));
  let previous: string | null = null;
  const turn = words.repeat((200 * 1024) / words.length);
  for (let index = 0; index < 60; index++) {
    const reply = await request(turn, previous);
    replies.push(reply);
    if (reply.status !== 200) {
      break;
    }
    previous = (JSON.parse(reply.head) as { id: string }).id;
  }
  const outcome = judge("a 30 MB turn, then a chain of 200 kB turns", replies, (reply) =>
    reply.status === 200 || reply.status === 400 || reply.status === 413
      ? null
      : `got ${reply.status}`,
  );
  if (replies.at(-1)?.status === 200) {
    // 12 MB of history is past every model's context: the chain should have been refused.
    return { ...outcome, failure: "60 turns of 200 kB were all accepted: no context limit" };
  }
  return outcome;
}

async function abortedUpload(base: URL): Promise<HeavyOutcome> {
  // The client goes away 8 MB into a JSONL body: nothing is created, nothing is logged as a bug.
  const line = `${JSON.stringify({ content: "hello" })}\n`;
  const reply = await send(
    base,
    "POST",
    "/v1/batches?model=gpt-4o-mini",
    { "content-type": "application/x-ndjson" },
    repeated("", line, 64 * MB),
    8 * MB,
  );
  return { shape: "a JSONL upload cut off after 8 MB", detail: reply.head, failure: null };
}

/** Runs every heavy shape in turn while probing /health; never throws for a shape's failure. */
export async function runHeavyShapes(
  baseUrl: string,
  log: (line: string) => void,
  /** Only the shapes whose function name contains this (for replaying one). */
  only?: string,
): Promise<HeavyReport> {
  const base = new URL(baseUrl);
  let worstHealthMs = 0;
  let worstThisShapeMs = 0;
  let isProbing = true;
  const probe = (async () => {
    while (isProbing) {
      const startedAt = performance.now();
      try {
        await send(base, "GET", "/health", {});
      } catch {
        // A refused probe shows up as the server dying; the caller checks that.
      }
      const elapsedMs = performance.now() - startedAt;
      worstHealthMs = Math.max(worstHealthMs, elapsedMs);
      worstThisShapeMs = Math.max(worstThisShapeMs, elapsedMs);
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
    }
  })();
  const shapes = [
    hugeJsonlLine,
    bodyPastTheLimit,
    hugeLineInUploadedFile,
    maximalEmbeddings,
    embeddingsBatchAndResults,
    longChain,
    abortedUpload,
  ].filter((shape) => only === undefined || shape.name.includes(only));
  const outcomes: HeavyOutcome[] = [];
  for (const shape of shapes) {
    const startedAt = Date.now();
    worstThisShapeMs = 0;
    let outcome: HeavyOutcome;
    try {
      outcome = await shape(base);
    } catch (thrown) {
      const message = thrown instanceof Error ? thrown.message : String(thrown);
      outcome = { shape: shape.name, detail: "", failure: `the request failed: ${message}` };
    }
    log(
      `heavy: ${outcome.shape}: ${outcome.failure === null ? "held" : `FAILED (${outcome.failure})`}; ${outcome.detail.slice(0, 200)} (${((Date.now() - startedAt) / 1000).toFixed(1)} s; slowest /health ${Math.round(worstThisShapeMs)} ms)`,
    );
    outcomes.push(outcome);
  }
  isProbing = false;
  await probe;
  return { outcomes, worstHealthMs };
}
