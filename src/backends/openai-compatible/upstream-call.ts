import type { z } from "zod";
import { coerceError } from "../../lib/coerce-error.js";
import { DEFAULT_CALL_DEADLINE_MS, DEFAULT_MAX_RESPONSE_BYTES } from "../call-bounds.js";
import type { OpenAICompatibleBackendOptions } from "../openai-compatible.js";
import { createDeadline } from "./deadline.js";
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
 */

export interface UpstreamCaller {
  readonly context: UpstreamContext;
  /** POSTs JSON; a non-2xx answer is thrown as a BackendError. */
  post(path: string, body: unknown, accept: string, signal: AbortSignal): Promise<Response>;
  /** The body as JSON of the given shape, or a 502 naming what it should have been. */
  readAnswer<T>(response: Response, schema: z.ZodType<T>, what: string): Promise<T>;
  /** Runs `call` within `timeoutMs` and `deadlineMs`, mapping every failure (see toFailure). */
  callOnce<T>(
    signal: AbortSignal,
    call: (signal: AbortSignal, onHeaders: () => void) => Promise<T>,
  ): Promise<T>;
}

export function createUpstreamCaller(options: OpenAICompatibleBackendOptions): UpstreamCaller {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  // A bad URL or header value throws here, at start-up: a config error is not a network
  // failure, and must not be retried request after request.
  const { protocol } = new URL(baseUrl);
  if (protocol !== "http:" && protocol !== "https:") {
    throw new TypeError(`Upstream ${options.name}: baseUrl must be http(s), not ${baseUrl}`);
  }
  new Headers(options.headers);
  const context: UpstreamContext = {
    name: options.name,
    baseUrl,
    timeoutMs: options.timeoutMs,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    deadlineMs: options.deadlineMs ?? DEFAULT_CALL_DEADLINE_MS,
  };
  const fetchUpstream = options.fetch ?? fetch;

  return {
    context,

    async post(path, body, accept, signal) {
      const headers = new Headers({ "content-type": "application/json", accept });
      if (options.apiKey !== null && options.apiKey !== "") {
        headers.set("authorization", `Bearer ${options.apiKey}`);
      }
      for (const [name, value] of Object.entries(options.headers ?? {})) {
        headers.set(name, value);
      }
      const response = await fetchUpstream(`${baseUrl}${path}`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal,
      });
      if (!response.ok) {
        throw await errorFromResponse(response, context, Date.now());
      }
      return response;
    },

    async readAnswer(response, schema, what) {
      const text = await readCappedText(response, context);
      const json = parseJsonOrNull(text);
      if (json === null) {
        throw badAnswer(context, what, `not JSON: ${text.trim().slice(0, 200)}`);
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

    async callOnce(signal, call) {
      const deadline = createDeadline(context.timeoutMs);
      const total = createDeadline(context.deadlineMs);
      let phase: "connect" | "body" = "connect";
      deadline.arm();
      total.arm();
      try {
        return await call(AbortSignal.any([signal, deadline.signal, total.signal]), () => {
          phase = "body";
        });
      } catch (thrown) {
        throw toFailure(coerceError(thrown), {
          context,
          callerSignal: signal,
          deadline,
          total,
          phase,
          isIdleTimeout: false,
        });
      } finally {
        deadline.disarm();
        total.disarm();
      }
    },
  };
}
