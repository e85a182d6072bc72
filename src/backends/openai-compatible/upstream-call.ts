import { type Dispatcher, Pool } from "undici";
import type { z } from "zod";
import { coerceError } from "../../lib/coerce-error.js";
import { DEFAULT_CALL_DEADLINE_MS, DEFAULT_MAX_RESPONSE_BYTES } from "../call-bounds.js";
import type { OpenAICompatibleBackendOptions } from "../openai-compatible.js";
import { createDeadline, type Deadline, linkToCaller } from "./deadline.js";
import {
  badAnswer,
  errorFromResponse,
  parseJsonOrNull,
  readCappedText,
  readErrorFields,
  toFailure,
  type UpstreamContext,
} from "./upstream-error.js";
import { describeIssue } from "./wire-schemas.js";

/**
 * One HTTP call to an OpenAI-style upstream with the bounds every upstream call has: the
 * request (key, extra headers), the body cap, the call timeout and deadline, and the mapping of
 * every failure to a BackendError (or the caller's abort reason) through upstream-error.ts.
 * Shared by the Chat Completions and the native Responses backends.
 *
 * Calls go through one undici Pool per backend: keep-alive connections to the upstream's
 * origin, as many as the backend's concurrency allows, so a busy backend pays for a connection
 * once rather than per call, and no call pays for the fetch API's Request, Response, Headers and
 * web streams. ferry's own deadlines bound every call, so the pool's own header and body
 * timeouts are off (a stream's consumer may hold a chunk for as long as it likes).
 */

/** Reads response headers by lowercase name, as `Headers.get` does (several values joined). */
export interface HeaderReader {
  get(name: string): string | null;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: HeaderReader;
  /**
   * The body (Buffers). Read it to its end or destroy it: a body left half read holds its
   * connection. A body destroyed before its end closes the connection.
   */
  readonly body: Dispatcher.ResponseData["body"];
}

/** One call's signal and bounds, from its start to `end`. */
export interface UpstreamCall {
  /** Aborted by the caller (with the caller's reason), by either deadline, or by `end(true)`. */
  readonly signal: AbortSignal;
  /** `timeoutMs`: armed by whoever waits on the upstream; `deadlineMs` runs from the start. */
  readonly deadline: Deadline;
  /** The response headers have arrived: later failures are the body's. */
  readonly gotHeaders: () => void;
  /** What to throw for what the call threw (see toFailure). */
  readonly failure: (thrown: unknown) => unknown;
  /** Stops both deadlines and the caller's link; `close` also ends the HTTP request if open. */
  readonly end: (close: boolean) => void;
}

export interface UpstreamCaller {
  readonly context: UpstreamContext;
  /** POSTs a JSON text; a non-2xx answer is thrown as a BackendError. */
  post(path: string, body: string, accept: string, signal: AbortSignal): Promise<UpstreamResponse>;
  /**
   * The body as JSON of the given shape, or a 502 naming what it should have been. `isPlain`
   * (optional) is a cheaper check that accepts the common answers the schema would accept as
   * they are; what it refuses goes through the schema.
   */
  readAnswer<T>(
    response: UpstreamResponse,
    schema: z.ZodType<T>,
    what: string,
    isPlain?: (json: unknown) => json is T,
  ): Promise<T>;
  /**
   * Starts a call: `deadlineMs` is armed now. Streams time out on silence (`isIdleTimeout`):
   * their reader arms `deadline` only while it waits on the upstream.
   */
  startCall(signal: AbortSignal, isIdleTimeout: boolean): UpstreamCall;
  /** Runs `call` within `timeoutMs` and `deadlineMs`, mapping every failure (see toFailure). */
  callOnce<T>(
    signal: AbortSignal,
    call: (signal: AbortSignal, onHeaders: () => void) => Promise<T>,
  ): Promise<T>;
  /** Closes the pool's connections; calls still running fail. */
  close(): Promise<void>;
}

export function createUpstreamCaller(options: OpenAICompatibleBackendOptions): UpstreamCaller {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  // A bad URL or header value throws here, at start-up: a config error is not a network
  // failure, and must not be retried request after request.
  const url = new URL(baseUrl);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Upstream ${options.name}: baseUrl must be http(s), not ${baseUrl}`);
  }
  const headersByAccept = requestHeaders(options);
  const pathPrefix = url.pathname.replace(/\/+$/, "");
  const context: UpstreamContext = {
    name: options.name,
    baseUrl,
    timeoutMs: options.timeoutMs,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    deadlineMs: options.deadlineMs ?? DEFAULT_CALL_DEADLINE_MS,
  };
  const pool = new Pool(url.origin, {
    // null: as many as there are calls (a backend built without a concurrency, in tests).
    connections: options.maxConnections ?? null,
    headersTimeout: 0,
    bodyTimeout: 0,
  });

  function startCall(signal: AbortSignal, isIdleTimeout: boolean): UpstreamCall {
    const { call, unlink } = linkToCaller(signal);
    const deadline = createDeadline(context.timeoutMs, call);
    const total = createDeadline(context.deadlineMs, call);
    total.arm();
    let phase: "connect" | "body" = "connect";
    return {
      signal: call.signal,
      deadline,
      gotHeaders: () => {
        phase = "body";
      },
      failure: (thrown) =>
        toFailure(coerceError(thrown), {
          context,
          callerSignal: signal,
          deadline,
          total,
          phase,
          isIdleTimeout,
        }),
      end: (close) => {
        deadline.disarm();
        total.disarm();
        unlink();
        if (close) {
          call.abort();
        }
      },
    };
  }

  return {
    context,

    async post(path, body, accept, signal) {
      const answer = await pool.request({
        method: "POST",
        path: `${pathPrefix}${path}${url.search}`,
        headers: headersByAccept(accept),
        body,
        signal,
      });
      const response: UpstreamResponse = {
        status: answer.statusCode,
        statusText: answer.statusText,
        headers: readHeaders(answer.headers),
        body: answer.body,
      };
      if (response.status < 200 || response.status > 299) {
        throw await errorFromResponse(response, context, Date.now());
      }
      return response;
    },

    async readAnswer(response, schema, what, isPlain) {
      const text = await readCappedText(response, context);
      const json = parseJsonOrNull(text);
      if (json === null) {
        throw badAnswer(context, what, `not JSON: ${text.trim().slice(0, 200)}`);
      }
      if (isPlain?.(json) === true) {
        return json;
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        // Some proxies answer 200 with an error envelope.
        const reported = readErrorFields(json)?.message;
        throw badAnswer(
          context,
          what,
          reported === undefined ? describeIssue(parsed.error) : `it reported: ${reported}`,
        );
      }
      return parsed.data;
    },

    startCall,

    async callOnce(signal, run) {
      const call = startCall(signal, false);
      call.deadline.arm();
      let isDone = false;
      try {
        const result = await run(call.signal, call.gotHeaders);
        isDone = true;
        return result;
      } catch (thrown) {
        throw call.failure(thrown);
      } finally {
        // A call that failed may have left a body unread; one that succeeded read it whole.
        call.end(!isDone);
      }
    },

    close: () => pool.destroy(),
  };
}

/**
 * The request headers for each Accept value, built once: JSON content, the key as a bearer
 * token, then the configured extra headers, which override ferry's own (an `api-key` for Azure,
 * say). Names are lowercased, as `Headers` does, so an override replaces rather than repeats.
 */
function requestHeaders(options: OpenAICompatibleBackendOptions) {
  // Validates names and values (a config error throws at start-up) and lowercases the names.
  const extra = Object.fromEntries(new Headers(options.headers));
  const hasKey = options.apiKey !== null && options.apiKey !== "";
  const byAccept = new Map<string, Readonly<Record<string, string>>>();
  return (accept: string) => {
    let headers = byAccept.get(accept);
    if (headers === undefined) {
      headers = {
        "content-type": "application/json",
        accept,
        ...(hasKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
        ...extra,
      };
      byAccept.set(accept, headers);
    }
    return headers;
  };
}

function readHeaders(headers: Dispatcher.ResponseData["headers"]): HeaderReader {
  return {
    get(name) {
      const value = headers[name];
      if (value === undefined) {
        return null;
      }
      return Array.isArray(value) ? value.join(", ") : value;
    },
  };
}
