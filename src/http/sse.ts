import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
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
    try {
      for await (const event of events) {
        if (stream.aborted) {
          break;
        }
        await stream.writeSSE(
          options.framing === "named" && "type" in event && typeof event.type === "string"
            ? { event: event.type, data: JSON.stringify(event) }
            : { data: JSON.stringify(event) },
        );
      }
      if (options.framing === "data-only" && !stream.aborted) {
        await stream.writeSSE({ data: "[DONE]" });
      }
    } catch (thrown) {
      if (stream.aborted) {
        return;
      }
      const body = errorBodyFor(coerceError(thrown), c, options.logger);
      await stream.writeSSE(
        options.framing === "named"
          ? { event: "error", data: JSON.stringify({ type: "error", ...body }) }
          : { data: JSON.stringify(body) },
      );
    }
  });
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
