import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
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
 * Writes events as server-sent events. If the producer throws after the stream has started
 * (a bug), the client gets `data: {"error": …}`, which the SDKs raise as an APIError, instead of
 * a stream that just stops.
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
      options.logger.error(
        { err: coerceError(thrown), requestId: c.get("requestId") },
        "stream failed",
      );
      const body = errorBody("The server had an error while processing your request.", {
        type: "server_error",
      });
      await stream.writeSSE(
        options.framing === "named"
          ? { event: "error", data: JSON.stringify({ type: "error", ...body }) }
          : { data: JSON.stringify(body) },
      );
    }
  });
}
