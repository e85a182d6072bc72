import { z } from "zod";
import { isAbortError } from "../../lib/coerce-error.js";
import { BackendError, isRetryableStatus } from "../backend.js";
import type { Deadline } from "./deadline.js";
import { parseRetryAfterMs } from "./parse-retry-after.js";
import type { HeaderReader, UpstreamResponse } from "./upstream-call.js";

/**
 * Every way a call to an upstream can fail, as a BackendError, except the caller's own abort,
 * which is rethrown unchanged so the executor can tell a cancel from a failure.
 */

export interface UpstreamContext {
  readonly name: string;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  /** The most bytes one answer's body may have (a stream's in all). */
  readonly maxResponseBytes: number;
  /** The longest one call may take from start to end. */
  readonly deadlineMs: number;
}

// An error body is only read for its message; a proxy's 10 MB HTML page must not be buffered.
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const MAX_QUOTED_CHARS = 200;

// Python servers (vLLM, older llama-cpp-python) name the type after an exception class
// ("BadRequestError") and send the HTTP status as a numeric `code`; neither is an OpenAI value,
// so only snake_case types and string codes are passed on.
const OPENAI_TYPE = /^[a-z][a-z0-9_]*$/;

const ErrorFieldsSchema = z.looseObject({
  message: z.string(),
  type: z.string().nullish(),
  code: z.union([z.string(), z.number()]).nullish(),
  param: z.string().nullish(),
});

// OpenAI, Ollama's and llama.cpp's /v1 and newer vLLM wrap the fields in `error`; Ollama's
// native API and LM Studio send {"error": "model 'x' not found"}.
const WrappedErrorSchema = z.looseObject({ error: z.union([ErrorFieldsSchema, z.string()]) });

export interface UpstreamErrorFields {
  readonly message: string;
  readonly type: string | undefined;
  readonly code: string | null;
  readonly param: string | null;
  /** A numeric `code`, which these servers use for the HTTP status the error stands for. */
  readonly statusCode: number | null;
}

/** The error fields of an upstream's JSON error body (or mid-stream error frame), or null. */
export function readErrorFields(json: unknown): UpstreamErrorFields | null {
  const wrapped = WrappedErrorSchema.safeParse(json);
  // Older vLLM: {"object": "error", "message", "type", "code"} with no wrapper.
  const fields = wrapped.success ? wrapped.data.error : ErrorFieldsSchema.safeParse(json).data;
  if (fields === undefined) {
    return null;
  }
  if (typeof fields === "string") {
    return { message: fields, type: undefined, code: null, param: null, statusCode: null };
  }
  return {
    message: fields.message,
    type:
      typeof fields.type === "string" && OPENAI_TYPE.test(fields.type) ? fields.type : undefined,
    code: typeof fields.code === "string" ? fields.code : null,
    param: fields.param ?? null,
    statusCode: typeof fields.code === "number" ? fields.code : null,
  };
}

/** A non-2xx answer as a BackendError carrying the upstream's status, envelope and retry hints. */
export async function errorFromResponse(
  response: UpstreamResponse,
  context: UpstreamContext,
  nowMs: number,
): Promise<BackendError> {
  if (response.status < 400) {
    return redirected(response, context);
  }
  const body = await readBoundedText(response, MAX_ERROR_BODY_BYTES);
  const fields = readErrorFields(parseJsonOrNull(body));
  const quoted = body.trim().slice(0, MAX_QUOTED_CHARS);
  const message =
    fields?.message ||
    `Upstream ${context.name} answered HTTP ${response.status}` +
      (quoted === "" ? ` ${response.statusText}`.trimEnd() : `: ${quoted}`);
  return new BackendError(message, {
    status: response.status,
    retryable: shouldRetry(response.headers) ?? isRetryableStatus(response.status),
    retryAfterMs: parseRetryAfterMs(response.headers, nowMs),
    type: fields?.type,
    code: fields?.code ?? null,
    param: fields?.param ?? null,
  });
}

/**
 * A 3xx: the pool talks to the one origin of base_url and follows no redirect (the fetch API
 * did). Where the upstream points is ferry's configuration, so it is a 502 (a client must never
 * see a redirect status from an API call), not retried, naming the place to set base_url to.
 */
function redirected(response: UpstreamResponse, context: UpstreamContext): BackendError {
  response.body.destroy();
  const location = response.headers.get("location");
  return new BackendError(
    `Upstream ${context.name} answered HTTP ${response.status}` +
      (location === null ? "" : `, a redirect to ${location.slice(0, MAX_QUOTED_CHARS)}`) +
      `; ferry does not follow redirects: set the backend's base_url to where the upstream answers.`,
    { status: 502, retryable: false },
  );
}

/** `x-should-retry` overrides the status, as in the openai SDKs. */
function shouldRetry(headers: HeaderReader): boolean | null {
  const value = headers.get("x-should-retry")?.trim().toLowerCase();
  return value === "true" ? true : value === "false" ? false : null;
}

/** A 2xx whose body is not what the endpoint promises: the upstream is broken, maybe briefly. */
export function badAnswer(context: UpstreamContext, what: string, detail: string): BackendError {
  return new BackendError(
    `Upstream ${context.name} sent an answer that is not ${what}: ${detail}`,
    { status: 502, retryable: true },
  );
}

/** A `data: {"error": ...}` frame in the middle of a stream. */
export function streamErrorFrame(context: UpstreamContext, json: unknown): BackendError {
  const fields = readErrorFields(json);
  const message = fields?.message || `Upstream ${context.name} reported an error mid-stream`;
  // Status null: the HTTP status was a 200 long ago. Not retryable unless the frame names a
  // retryable HTTP status in its numeric `code` (vLLM and llama.cpp do); a retried stream would
  // also repeat the text the consumer already has.
  const statusCode = fields?.statusCode ?? null;
  return new BackendError(message, {
    status: null,
    retryable: statusCode !== null && statusCode >= 400 && isRetryableStatus(statusCode),
    type: fields?.type,
    code: fields?.code ?? null,
    param: fields?.param ?? null,
  });
}

/**
 * The answer outgrew max_response_bytes. Not retryable: the same request would most likely get
 * the same answer again, and reading it again would cost as much memory again.
 */
export function oversizedAnswer(context: UpstreamContext): BackendError {
  return new BackendError(
    `Upstream ${context.name} sent an answer larger than its max_response_bytes ` +
      `(${context.maxResponseBytes} bytes); ferry stopped reading it there.`,
    { status: 502, retryable: false },
  );
}

/**
 * The text of a 2xx body, or oversizedAnswer once it passes max_response_bytes: a body is never
 * held whole beyond the cap, and a Content-Length over it fails before a byte is read.
 */
export async function readCappedText(
  response: UpstreamResponse,
  context: UpstreamContext,
): Promise<string> {
  const { body } = response;
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > context.maxResponseBytes) {
    body.destroy();
    throw oversizedAnswer(context);
  }
  const pieces: Buffer[] = [];
  let received = 0;
  // Leaving the loop early (the cap, a failed read) destroys the body.
  for await (const piece of body as AsyncIterable<Buffer>) {
    received += piece.byteLength;
    if (received > context.maxResponseBytes) {
      throw oversizedAnswer(context);
    }
    pieces.push(piece);
  }
  // One decode of the whole, not a string grown per chunk.
  const [only] = pieces;
  return (
    pieces.length === 1 && only !== undefined ? only : Buffer.concat(pieces, received)
  ).toString("utf8");
}

/** The body ended before the upstream said it was done. */
export function earlyClose(context: UpstreamContext): BackendError {
  return new BackendError(
    `Upstream ${context.name} closed the stream early, before a finish_reason or [DONE]`,
    { status: null, retryable: true },
  );
}

export interface FailureScene {
  readonly context: UpstreamContext;
  /** The caller's signal: its abort is a cancel, not a failure. */
  readonly callerSignal: AbortSignal;
  readonly deadline: Deadline;
  /** The bound on the whole call (deadline_ms), whatever the upstream keeps sending. */
  readonly total: Deadline;
  /** Whether the response headers had arrived when it failed. */
  readonly phase: "connect" | "body";
  /** Streams time out on silence, not on total duration (see openai-compatible.ts). */
  readonly isIdleTimeout: boolean;
}

/**
 * What to throw for whatever a call threw: the caller's abort reason when the caller aborted
 * (checked first: a cancel wins over whatever failure it caused), a BackendError otherwise.
 */
export function toFailure(thrown: Error, scene: FailureScene): unknown {
  const { context, callerSignal, deadline } = scene;
  if (callerSignal.aborted) {
    return callerSignal.reason;
  }
  if (thrown instanceof BackendError) {
    return thrown;
  }
  if (scene.total.hasExpired) {
    // Not retryable: an upstream that drips (or a keep-alive comment every few seconds) would
    // drip again, and each attempt would hold a concurrency slot for the whole deadline.
    return new BackendError(
      `Upstream ${context.name} did not finish its answer within its deadline_ms ` +
        `(${context.deadlineMs} ms); ferry stopped the call.`,
      { status: null, retryable: false, code: "timeout" },
    );
  }
  if (deadline.hasExpired) {
    const message =
      scene.isIdleTimeout && scene.phase === "body"
        ? `Upstream ${context.name} sent nothing for ${context.timeoutMs} ms mid-stream`
        : `Upstream ${context.name} did not answer within ${context.timeoutMs} ms`;
    return new BackendError(message, { status: null, retryable: true, code: "timeout" });
  }
  if (isAbortError(thrown)) {
    // Our own abort (the consumer stopped reading a stream) surfacing late; nobody waits for it.
    return thrown;
  }
  const cause = describeCause(thrown);
  const message =
    scene.phase === "connect"
      ? `Cannot reach upstream ${context.name} at ${context.baseUrl}: ${cause}`
      : `Upstream ${context.name} broke off its answer: ${cause}`;
  return new BackendError(message, {
    status: null,
    retryable: true,
    code: scene.phase === "connect" ? "connection_error" : null,
    isRefused: scene.phase === "connect" && hasErrorCode(thrown, "ECONNREFUSED"),
  });
}

/** Whether `err`, one of its causes or an error it aggregates has this system error code. */
function hasErrorCode(err: unknown, code: string, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 5) {
    return false;
  }
  if ((err as NodeJS.ErrnoException).code === code) {
    return true;
  }
  if (
    err instanceof AggregateError &&
    err.errors.some((inner) => hasErrorCode(inner, code, depth + 1))
  ) {
    return true;
  }
  return hasErrorCode(err.cause, code, depth + 1);
}

/**
 * A network failure's reason, with its causes: undici's request API throws the socket's error
 * (`connect ECONNREFUSED 127.0.0.1:1234`, `getaddrinfo ENOTFOUND host`, sometimes an
 * AggregateError with an empty message when several addresses were tried) or its own
 * (`SocketError("other side closed")` for a body cut short); the fetch API wraps the same in
 * `TypeError("fetch failed")` or `TypeError("terminated")` with the reason as `cause`.
 */
export function describeCause(err: Error): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current instanceof Error && depth < 5; depth += 1) {
    const text =
      current instanceof AggregateError && current.message === ""
        ? current.errors.map((inner) => String(inner?.message ?? inner)).join("; ")
        : current.message;
    if (text !== "" && text !== "fetch failed") {
      parts.push(text);
    }
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(": ") : err.name;
}

/** At most `maxBytes` of the body as text; the rest is not read (the body is destroyed). Never throws. */
export async function readBoundedText(
  response: UpstreamResponse,
  maxBytes: number,
): Promise<string> {
  const { body } = response;
  const decoder = new TextDecoder();
  let text = "";
  let received = 0;
  try {
    for await (const piece of body as AsyncIterable<Buffer>) {
      const kept = piece.subarray(0, maxBytes - received);
      received += kept.byteLength;
      text += decoder.decode(kept, { stream: true });
      if (received >= maxBytes) {
        break;
      }
    }
    return text + decoder.decode();
  } catch {
    // A body that breaks off still leaves the status to report; the caller checks its abort.
    return text;
  }
}

export function parseJsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
