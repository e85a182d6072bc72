import type { Backend, EmbedRequest, EmbedResult, GenerateRequest, Generation } from "./backend.js";
import { eventsOfGeneration } from "./generation-events.js";
import { memoizeRequestText } from "./openai-compatible/request-text.js";
import { createUpstreamCaller } from "./openai-compatible/upstream-call.js";
import { chatBackendOver, type OpenAICompatibleBackendOptions } from "./openai-compatible.js";
import { readResponsesStream } from "./openai-responses/read-responses-stream.js";
import {
  NOT_A_RESPONSE,
  ResponseSchema,
  toGeneration,
} from "./openai-responses/response-output.js";
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
  // endpoint as the Chat backend calls it, over the same connections.
  const embeddings = chatBackendOver(caller, options.name);
  // Built and serialised once per request, however often a service retries it.
  const requestText = {
    json: memoizeRequestText((request: GenerateRequest) => responsesRequestBody(request, false)),
    sse: memoizeRequestText((request: GenerateRequest) => responsesRequestBody(request, true)),
  };

  return {
    name: options.name,
    native: "responses",

    async generate(request: GenerateRequest, signal: AbortSignal): Promise<Generation> {
      // Outside the call's failure mapping: a request the upstream cannot take is a 400 of its
      // own, and a bug here must not pass for an unreachable upstream.
      const body = requestText.json(request);
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
      const body = requestText.sse(request);
      const call = caller.startCall(signal, true);
      call.deadline.arm();
      try {
        const response = await caller.post("/responses", body, SSE_TYPE, call.signal);
        call.deadline.disarm();
        call.gotHeaders();
        if (response.headers.get("content-type")?.includes(JSON_TYPE) === true) {
          // A server that ignores `stream: true` answers with one whole Response.
          call.deadline.arm();
          const answer = await caller.readAnswer(response, ResponseSchema, NOT_A_RESPONSE);
          call.deadline.disarm();
          yield* eventsOfGeneration(toGeneration(answer, context));
          return;
        }
        yield* readResponsesStream(response.body, context, call.deadline);
      } catch (thrown) {
        throw call.failure(thrown);
      } finally {
        // Closes the HTTP request when the consumer stopped before the end; a no-op otherwise.
        call.end(true);
      }
    },

    embed(request: EmbedRequest, signal: AbortSignal): Promise<EmbedResult> {
      return embeddings.embed(request, signal);
    },

    close: () => caller.close(),
  };
}
