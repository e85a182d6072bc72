import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import { BackendError } from "../backends/backend.js";
import { ApiError } from "../lib/api-error.js";
import { coerceError } from "../lib/coerce-error.js";
import type { Logger } from "../lib/logger.js";
import type { AppEnv } from "./app-env.js";
import { errorBody } from "./errors.js";

export interface SseOptions {
  /** Aborted when the client goes away, so the backend call stops too. */
  readonly controller: AbortController;
  /**
   * `named` writes `event: <type>` lines (Responses API); `data-only` writes only `data:` lines
   * and ends with `data: [DONE]` (Chat Completions).
   */
  readonly framing: "named" | "data-only";
  readonly logger: Logger;
  /**
   * How long one write may wait for a client that stopped reading. Past it the stream ends: the
   * controller aborts (the backend call, and its slot, are let go) and the connection is closed.
   */
  readonly writeTimeoutMs: number;
}

/**
 * Writes events as server-sent events. If the producer throws after the stream has started, the
 * client gets `data: {"error": …}`, which the SDKs raise as an APIError, instead of a stream that
 * just stops: a backend's failure (an upstream that broke off mid-stream) with its own message,
 * type and code, as OpenAI sends them mid-stream; anything else (a bug) as a server_error.
 */
export function writeSse(
  c: Context<AppEnv>,
  events: AsyncIterable<object>,
  options: SseOptions,
): Response {
  return streamSSE(c, async (stream) => {
    stream.onAbort(() =>
      options.controller.abort(new DOMException("client disconnected", "AbortError")),
    );
    /** Writes one frame; false (and the stream is ended) if the client stopped reading. */
    const send = async (frame: { event?: string; data: string }): Promise<boolean> => {
      if (await writeWithin(stream, frame, options.writeTimeoutMs)) {
        return true;
      }
      options.logger.warn(
        { requestId: c.get("requestId"), writeTimeoutMs: options.writeTimeoutMs },
        "client stopped reading; stream ended",
      );
      options.controller.abort(new DOMException("client stopped reading", "AbortError"));
      stream.abort();
      (c.env as Partial<HttpBindings> | undefined)?.outgoing?.destroy();
      return false;
    };
    try {
      for await (const event of events) {
        if (stream.aborted) {
          break;
        }
        const isSent = await send(
          options.framing === "named" && "type" in event && typeof event.type === "string"
            ? { event: event.type, data: JSON.stringify(event) }
            : { data: JSON.stringify(event) },
        );
        if (!isSent) {
          return; // leaving the loop returns the producer, which lets its backend call go
        }
      }
      if (options.framing === "data-only" && !stream.aborted) {
        await send({ data: "[DONE]" });
      }
    } catch (thrown) {
      if (stream.aborted) {
        return;
      }
      const body = errorBodyFor(coerceError(thrown), c, options.logger);
      await send(
        options.framing === "named"
          ? { event: "error", data: JSON.stringify({ type: "error", ...body }) }
          : { data: JSON.stringify(body) },
      );
    }
  });
}

// A write waits for the client to take the bytes; in pieces of this size, the timeout measures
// a client that stopped reading, not one slowly reading a large event (a long `instructions`
// is echoed in every response.* event).
const WRITE_PIECE_BYTES = 64 * 1024;
const encoder = new TextEncoder();

/** Writes an SSE frame (`data` is one line of JSON); false if a piece waited past `timeoutMs`. */
async function writeWithin(
  stream: SSEStreamingApi,
  frame: { event?: string; data: string },
  timeoutMs: number,
): Promise<boolean> {
  const text = `${frame.event === undefined ? "" : `event: ${frame.event}\n`}data: ${frame.data}\n\n`;
  const bytes = encoder.encode(text);
  for (let offset = 0; offset < bytes.length; offset += WRITE_PIECE_BYTES) {
    if (
      !(await settlesWithin(
        stream.write(bytes.subarray(offset, offset + WRITE_PIECE_BYTES)),
        timeoutMs,
      ))
    ) {
      return false;
    }
  }
  return true;
}

function errorBodyFor(err: Error, c: Context<AppEnv>, logger: Logger) {
  const requestId = c.get("requestId");
  if (err instanceof BackendError) {
    logger.warn({ err, requestId }, "backend failed mid-stream");
    const apiError = ApiError.fromBackend(err);
    return errorBody(apiError.message, apiError.options);
  }
  logger.error({ err, requestId }, "stream failed");
  return errorBody("The server had an error while processing your request.", {
    type: "server_error",
  });
}

/**
 * Whether `promise` settles within `ms` (a write to a client that stopped reading stays
 * pending). A timer that fires late means this process was too busy to let the client read, so
 * the client gets another period; one that fires on time still lets the I/O already waiting
 * (the client's reads, the socket draining) run before the verdict.
 */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      const armedAt = performance.now();
      timer = setTimeout(() => {
        if (performance.now() - armedAt > ms * 1.5) {
          arm();
        } else {
          setImmediate(() => resolve(false));
        }
      }, ms);
    };
    arm();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      (thrown: unknown) => {
        clearTimeout(timer);
        reject(thrown);
      },
    );
  });
}
