import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A fake OpenAI-compatible upstream on a real socket (127.0.0.1, a free port). By default it
 * answers like OpenAI: `POST /v1/chat/completions` (JSON, or a chunk stream ending in
 * `data: [DONE]` when `stream: true`) with `Echo: <last user message>`, `POST /v1/embeddings`
 * with small float vectors, `GET /v1/models`. A test scripts other answers with a handler that
 * returns an UpstreamReply per request (a status and body, a delay, a stream that breaks off).
 */

export interface RecordedRequest {
  readonly method: string;
  /** The path with its query, e.g. `/v1/chat/completions`. */
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The body parsed as JSON; the raw text when it is not JSON; null when empty. */
  readonly body: unknown;
  /**
   * How the exchange ended: "finished" once the whole answer was written, "closed" when the
   * connection went away first (the client aborted or timed out, or the script destroyed it).
   */
  readonly ended: Promise<"finished" | "closed">;
}

interface ReplyBase {
  /** Wait before answering; cut short (and nothing sent) if the client goes away. */
  readonly delayMs?: number;
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

export type UpstreamReply =
  /** What the fake answers unscripted (see defaultReply). */
  | { readonly kind: "default"; readonly delayMs?: number }
  | (ReplyBase & { readonly kind: "json"; readonly body: unknown })
  | (ReplyBase & { readonly kind: "text"; readonly body: string })
  | (ReplyBase & {
      readonly kind: "sse";
      /**
       * Each is sent as one `data:` frame: objects as JSON, strings as they are; a string that
       * starts with ":" is sent as an SSE comment line (a keep-alive) instead.
       */
      readonly frames: readonly (string | object)[];
      readonly frameDelayMs?: number;
      /**
       * After the frames: "done" sends `data: [DONE]` and ends (the default); "eof" ends the body
       * without it; "destroy" drops the connection; "hang" sends nothing more until the client
       * goes away.
       */
      readonly end?: "done" | "eof" | "destroy" | "hang";
    })
  /** Never answers; the exchange ends when the client goes away. */
  | { readonly kind: "hang" }
  /** Drops the connection without a word. */
  | { readonly kind: "destroy"; readonly delayMs?: number };

export type UpstreamHandler = (request: RecordedRequest) => UpstreamReply | Promise<UpstreamReply>;

export interface FakeUpstream {
  /** `http://127.0.0.1:<port>/v1` */
  readonly baseUrl: string;
  readonly requests: RecordedRequest[];
  /** Requests whose exchange has not ended yet. */
  inFlight(): number;
  /** The most requests ever in flight at once. */
  maxInFlight(): number;
  /** Connections accepted so far (a keep-alive client reuses them). */
  connectionsAccepted(): number;
  /** Connections open now. */
  openConnections(): number;
  /** Resolves once `count` requests have arrived (with their bodies read). */
  waitForRequests(count: number): Promise<void>;
  setHandler(handler: UpstreamHandler): void;
  /** Stops listening and destroys every open connection, so no test ever hangs on it. */
  close(): Promise<void>;
}

const defaultHandler: UpstreamHandler = () => ({ kind: "default" });

export async function startFakeUpstream(handler: UpstreamHandler = defaultHandler) {
  let current = handler;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const waiters: { count: number; resolve: () => void }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;

  const server = http.createServer((req, res) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    // Aborted when the connection goes away before the answer is complete.
    const gone = new AbortController();
    const ended = new Promise<"finished" | "closed">((resolve) => {
      res.once("close", () => {
        inFlight -= 1;
        if (res.writableFinished) {
          resolve("finished");
        } else {
          gone.abort();
          resolve("closed");
        }
      });
    });
    void (async () => {
      const text = await readBody(req);
      const recorded: RecordedRequest = {
        method: req.method ?? "GET",
        path: req.url ?? "/",
        headers: req.headers,
        body: parseBody(text),
        ended,
      };
      requests.push(recorded);
      for (const waiter of waiters.filter((w) => requests.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
      let reply = await current(recorded);
      if (reply.kind === "default") {
        await wait(reply.delayMs ?? 0, gone.signal);
        reply = defaultReply(recorded);
      }
      await send(res, reply, gone.signal);
    })().catch((thrown: unknown) => {
      if (gone.signal.aborted) {
        return;
      }
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain" });
      }
      res.end(`fake upstream failed: ${String(thrown)}`);
    });
  });
  let connectionsAccepted = 0;
  server.on("connection", (socket) => {
    connectionsAccepted += 1;
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const upstream: FakeUpstream = {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    connectionsAccepted: () => connectionsAccepted,
    openConnections: () => sockets.size,
    waitForRequests(count) {
      if (requests.length >= count) {
        return Promise.resolve();
      }
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    setHandler(next) {
      current = next;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) {
        socket.destroy();
      }
      await closed;
    },
  };
  return upstream;
}

async function send(res: http.ServerResponse, reply: UpstreamReply, gone: AbortSignal) {
  if (reply.kind === "hang") {
    return;
  }
  await wait(reply.kind === "default" ? 0 : (reply.delayMs ?? 0), gone);
  switch (reply.kind) {
    case "default":
      return;
    case "destroy":
      res.socket?.destroy();
      return;
    case "json":
      res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers });
      res.end(JSON.stringify(reply.body));
      return;
    case "text":
      res.writeHead(reply.status ?? 200, { "content-type": "text/plain", ...reply.headers });
      res.end(reply.body);
      return;
    case "sse": {
      res.writeHead(reply.status ?? 200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        ...reply.headers,
      });
      res.flushHeaders();
      for (const [index, frame] of reply.frames.entries()) {
        if (index > 0) {
          await wait(reply.frameDelayMs ?? 0, gone);
        }
        const isComment = typeof frame === "string" && frame.startsWith(":");
        const data = typeof frame === "string" ? frame : JSON.stringify(frame);
        await write(res, isComment ? `${frame}\n\n` : `data: ${data}\n\n`);
      }
      const end = reply.end ?? "done";
      if (end === "done") {
        res.end("data: [DONE]\n\n");
      } else if (end === "eof") {
        res.end();
      } else if (end === "destroy") {
        res.socket?.destroy();
      }
      return;
    }
  }
}

/** Resolves once the data has been handed to the socket, so a destroy after it loses nothing. */
function write(res: http.ServerResponse, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    res.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

/** Sleeps, rejecting early (and clearing its timer) when the client goes away. */
function wait(ms: number, gone: AbortSignal): Promise<void> {
  if (gone.aborted) {
    return Promise.reject(new Error("client gone"));
  }
  if (ms <= 0) {
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const onGone = () => {
      clearTimeout(timer);
      reject(new Error("client gone"));
    };
    const timer = setTimeout(() => {
      gone.removeEventListener("abort", onGone);
      resolve();
    }, ms);
    gone.addEventListener("abort", onGone, { once: true });
  });
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseBody(text: string): unknown {
  if (text === "") {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// ---------------------------------------------------------------------------------------------
// The default, OpenAI-like answers, and builders for scripted ones.

type JsonObject = Record<string, unknown>;

/** What the fake answers unscripted, by path. */
export function defaultReply(request: RecordedRequest): UpstreamReply {
  const path = request.path.split("?")[0];
  const body = (isObject(request.body) ? request.body : {}) as JsonObject;
  if (request.method === "POST" && path === "/v1/chat/completions") {
    return body.stream === true ? chatStreamReply(body) : chatReply(body);
  }
  if (request.method === "POST" && path === "/v1/embeddings") {
    return embeddingsReply(body);
  }
  if (request.method === "GET" && path === "/v1/models") {
    return {
      kind: "json",
      body: {
        object: "list",
        data: [{ id: "fake-model", object: "model", created: 1_704_067_200, owned_by: "fake" }],
      },
    };
  }
  return {
    kind: "json",
    status: 404,
    body: openAIError(`Unknown request URL: ${request.method} ${request.path}`, {
      code: "unknown_url",
    }),
  };
}

/** The fake's answer to a chat request: `Echo: <last user message>`, cut at max_tokens words. */
export function echoAnswer(body: JsonObject) {
  const messages = Array.isArray(body.messages) ? (body.messages as JsonObject[]) : [];
  const lastUser = messages.filter((message) => message.role === "user").at(-1);
  const full = `Echo: ${textOf(lastUser?.content)}`;
  const pieces = splitWords(full);
  const maxTokens = typeof body.max_tokens === "number" ? body.max_tokens : null;
  const isCut = maxTokens !== null && pieces.length > maxTokens;
  const kept = isCut ? pieces.slice(0, maxTokens) : pieces;
  const promptTokens = messages.reduce(
    (sum, message) => sum + splitWords(textOf(message.content)).length,
    0,
  );
  return {
    pieces: kept,
    text: kept.join(""),
    finishReason: isCut ? "length" : "stop",
    usage: usageOf(promptTokens, kept.length),
  };
}

function chatReply(body: JsonObject): UpstreamReply {
  const answer = echoAnswer(body);
  return {
    kind: "json",
    body: {
      id: "chatcmpl-fake",
      object: "chat.completion",
      created: 1_704_067_200,
      model: body.model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: answer.text, refusal: null },
          logprobs: null,
          finish_reason: answer.finishReason,
        },
      ],
      usage: answer.usage,
    },
  };
}

function chatStreamReply(body: JsonObject): UpstreamReply {
  const answer = echoAnswer(body);
  const options = isObject(body.stream_options) ? body.stream_options : {};
  const includeUsage = options.include_usage === true;
  const extra = includeUsage ? { usage: null } : {};
  const frames: object[] = [
    chatChunk({ role: "assistant", content: "" }, extra),
    ...answer.pieces.map((piece) => chatChunk({ content: piece }, extra)),
    chatChunk({ finishReason: answer.finishReason }, extra),
  ];
  if (includeUsage) {
    frames.push({ ...chatChunk({}), choices: [], usage: answer.usage });
  }
  return { kind: "sse", frames };
}

function embeddingsReply(body: JsonObject): UpstreamReply {
  const inputs = Array.isArray(body.input) ? (body.input as unknown[]) : [body.input];
  const dimensions = typeof body.dimensions === "number" ? body.dimensions : 3;
  const isBase64 = body.encoding_format === "base64";
  let promptTokens = 0;
  const data = inputs.map((input, index) => {
    promptTokens += typeof input === "string" ? splitWords(input).length : (input as []).length;
    const vector = fakeVector(index, dimensions);
    return {
      object: "embedding",
      index,
      embedding: isBase64 ? encodeFloat32Base64(vector) : vector,
    };
  });
  return {
    kind: "json",
    body: {
      object: "list",
      data,
      model: body.model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    },
  };
}

/** Input `index`'s vector: exact in float32, so tests can compare with toEqual. */
export function fakeVector(index: number, dimensions: number): number[] {
  return Array.from({ length: dimensions }, (_, j) => index + j * 0.125);
}

export function encodeFloat32Base64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (const [i, value] of vector.entries()) {
    bytes.writeFloatLE(value, i * 4);
  }
  return bytes.toString("base64");
}

/** One `chat.completion.chunk` with a single choice. */
export function chatChunk(
  choice: { role?: string; content?: string; finishReason?: string },
  extra: JsonObject = {},
): JsonObject {
  const delta: JsonObject = {};
  if (choice.role !== undefined) {
    delta.role = choice.role;
  }
  if (choice.content !== undefined) {
    delta.content = choice.content;
  }
  return {
    id: "chatcmpl-fake",
    object: "chat.completion.chunk",
    created: 1_704_067_200,
    model: "fake-model",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: choice.finishReason ?? null }],
    ...extra,
  };
}

/** OpenAI's error envelope. */
export function openAIError(
  message: string,
  fields: { type?: string; code?: string | null; param?: string | null } = {},
) {
  return {
    error: {
      message,
      type: fields.type ?? "invalid_request_error",
      param: fields.param ?? null,
      code: fields.code ?? null,
    },
  };
}

function usageOf(promptTokens: number, completionTokens: number) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/** "a b  c" -> ["a", " b", "  c"]: a crude tokenizer whose pieces join back to the text. */
function splitWords(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

function textOf(content: unknown): string {
  if (typeof content === "string") {
    return content;
  }
  if (Array.isArray(content)) {
    return content
      .map((part) => (isObject(part) && typeof part.text === "string" ? part.text : ""))
      .join("");
  }
  return "";
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A whole `chat.completion` with one choice whose message (and logprobs) the test writes. */
export function chatCompletionOf(
  message: JsonObject,
  fields: { finishReason?: string; logprobs?: unknown; usage?: unknown; id?: string } = {},
): JsonObject {
  return {
    id: fields.id ?? "chatcmpl-fake",
    object: "chat.completion",
    created: 1_704_067_200,
    model: "fake-model",
    choices: [
      {
        index: 0,
        message: { role: "assistant", ...message },
        logprobs: fields.logprobs ?? null,
        finish_reason: fields.finishReason ?? "stop",
      },
    ],
    ...(fields.usage === undefined ? {} : { usage: fields.usage }),
  };
}

/** One `chat.completion.chunk` whose delta (and logprobs, finish_reason) the test writes. */
export function chunkOf(
  delta: JsonObject,
  fields: { finishReason?: string; logprobs?: unknown; id?: string } = {},
): JsonObject {
  return {
    id: fields.id ?? "chatcmpl-fake",
    object: "chat.completion.chunk",
    created: 1_704_067_200,
    model: "fake-model",
    choices: [
      {
        index: 0,
        delta,
        logprobs: fields.logprobs ?? null,
        finish_reason: fields.finishReason ?? null,
      },
    ],
  };
}

/** The include_usage chunk that ends a stream. */
export function usageChunk(usage: unknown): JsonObject {
  return { ...chunkOf({}), choices: [], usage };
}
