import { coerceError } from "../lib/coerce-error.js";
import type { Backend, EmbedRequest, EmbedResult, GenerateRequest, Generation } from "./backend.js";
import { eventsOfGeneration } from "./generation-events.js";
import { createDeadline } from "./openai-compatible/deadline.js";
import { createUpstreamCaller } from "./openai-compatible/upstream-call.js";
import { toFailure } from "./openai-compatible/upstream-error.js";
import {
  createOpenAICompatibleBackend,
  type OpenAICompatibleBackendOptions,
} from "./openai-compatible.js";
import { readResponsesStream } from "./openai-responses/read-responses-stream.js";
import {
  NOT_A_RESPONSE,
  ResponseSchema,
  toGeneration,
} from "./openai-responses/response-output.js";
import { streamClosedEarly } from "./openai-responses/responses-events.js";
import { responsesRequestBody } from "./openai-responses/responses-request.js";

/** The same knobs as the Chat Completions upstream: where it is, its key, its bounds. */
export type OpenAIResponsesBackendOptions = OpenAICompatibleBackendOptions;

const JSON_TYPE = "application/json";
const SSE_TYPE = "text/event-stream";

/**
 * A backend for upstreams that implement the Responses API themselves (OpenAI, vLLM's
 * /v1/responses, another ferry): it forwards the client's Responses body as it came (see
 * responsesRequestBody for the few fields ferry sets), so built-in tools, encrypted reasoning and
 * every item type reach the model, and it returns each output item both as the contract's typed
 * item and, in `native`, exactly as the upstream sent it. ferry still stores, backgrounds,
 * streams, batches and retries the work, so the upstream is asked never to store or background it.
 *
 * Bounds, errors and aborts are the Chat Completions backend's (openai-compatible.ts): one HTTP
 * request per call, never retried here; the caller's abort is rethrown unchanged.
 */
export function createOpenAIResponsesBackend(options: OpenAIResponsesBackendOptions): Backend {
  const caller = createUpstreamCaller(options);
  const { context } = caller;
  // Embeddings are not part of the Responses API: an upstream that has one has the other
  // endpoint as the Chat backend calls it.
  const embeddings = createOpenAICompatibleBackend(options);

  return {
    name: options.name,
    native: "responses",

    async generate(request: GenerateRequest, signal: AbortSignal): Promise<Generation> {
      // Outside the call's failure mapping: a request the upstream cannot take is a 400 of its
      // own, and a bug here must not pass for an unreachable upstream.
      const body = responsesRequestBody(request, false);
      return caller.callOnce(signal, async (combined, onHeaders) => {
        const response = await caller.post("/responses", body, JSON_TYPE, combined);
        onHeaders();
        const answer = await caller.readAnswer(response, ResponseSchema, NOT_A_RESPONSE);
        return toGeneration(answer, context);
      });
    },

    /**
     * Timeouts as in the Chat backend's streamGenerate: `timeoutMs` bounds the wait for the
     * headers and then each silence between body chunks (armed only while waiting on the
     * upstream); `deadlineMs` bounds the whole call, however steadily the upstream drips.
     */
    async *streamGenerate(request: GenerateRequest, signal: AbortSignal) {
      const body = responsesRequestBody(request, true);
      const deadline = createDeadline(context.timeoutMs);
      const total = createDeadline(context.deadlineMs);
      total.arm();
      // Closes the HTTP request when the consumer stops iterating before the end.
      const stop = new AbortController();
      let phase: "connect" | "body" = "connect";
      deadline.arm();
      try {
        const combined = AbortSignal.any([signal, deadline.signal, total.signal, stop.signal]);
        const response = await caller.post("/responses", body, SSE_TYPE, combined);
        deadline.disarm();
        phase = "body";
        if (response.headers.get("content-type")?.includes(JSON_TYPE) === true) {
          // A server that ignores `stream: true` answers with one whole Response.
          deadline.arm();
          const answer = await caller.readAnswer(response, ResponseSchema, NOT_A_RESPONSE);
          deadline.disarm();
          yield* eventsOfGeneration(toGeneration(answer, context));
          return;
        }
        if (response.body === null) {
          throw streamClosedEarly(context);
        }
        yield* readResponsesStream(response.body, context, deadline);
      } catch (thrown) {
        throw toFailure(coerceError(thrown), {
          context,
          callerSignal: signal,
          deadline,
          total,
          phase,
          isIdleTimeout: true,
        });
      } finally {
        deadline.disarm();
        total.disarm();
        // A no-op when the body was read to its end.
        stop.abort();
      }
    },

    embed(request: EmbedRequest, signal: AbortSignal): Promise<EmbedResult> {
      return embeddings.embed(request, signal);
    },
  };
}
