import type { z } from "zod";
import { coerceError } from "../lib/coerce-error.js";
import type { Backend, EmbedRequest, EmbedResult, GenerateRequest, Generation } from "./backend.js";
import { eventsOfGeneration } from "./generation-events.js";
import {
  generationOfChatCompletion,
  generationOfCompletion,
} from "./openai-compatible/answer-items.js";
import {
  chatRequestBody,
  completionRequestBody,
  embeddingsRequestBody,
} from "./openai-compatible/chat-request.js";
import { createDeadline } from "./openai-compatible/deadline.js";
import { NOT_EMBEDDINGS, toEmbeddingVectors } from "./openai-compatible/embedding-vectors.js";
import { readChatStream } from "./openai-compatible/read-chat-stream.js";
import { createUpstreamCaller } from "./openai-compatible/upstream-call.js";
import { earlyClose, toFailure } from "./openai-compatible/upstream-error.js";
import {
  ChatCompletionSchema,
  CompletionSchema,
  EmbeddingListSchema,
} from "./openai-compatible/wire-schemas.js";

export interface OpenAICompatibleBackendOptions {
  readonly name: string;
  /** The upstream's base URL including `/v1`, e.g. `http://127.0.0.1:11434/v1`. */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; null (or "") sends no Authorization header. */
  readonly apiKey: string | null;
  /**
   * generate/embed: the whole call. streamGenerate: the wait for the response headers, then
   * each wait for the next bytes of the body (an idle timeout); see streamGenerate.
   */
  readonly timeoutMs: number;
  /** The most bytes one answer's body may have (a stream's in all); DEFAULT_MAX_RESPONSE_BYTES. */
  readonly maxResponseBytes?: number;
  /** The longest one call may take, streams included; DEFAULT_CALL_DEADLINE_MS. */
  readonly deadlineMs?: number;
  /** Extra request headers; they override ferry's own (e.g. an `api-key` for Azure). */
  readonly headers?: Readonly<Record<string, string>>;
  /** For tests and instrumentation; the global (undici) fetch by default. */
  readonly fetch?: typeof fetch;
}

type Phase = "connect" | "body";

const JSON_TYPE = "application/json";
const SSE_TYPE = "text/event-stream";
const NOT_A_COMPLETION = "an OpenAI chat completion";
const NOT_A_TEXT_COMPLETION = "an OpenAI text completion";

/**
 * Where a request goes and how its whole answer reads: the legacy `/completions` for a raw
 * prompt, `/chat/completions` for everything else.
 */
function endpointOf(request: GenerateRequest, isStream: boolean) {
  if (request.prompt !== undefined) {
    return {
      path: "/completions",
      body: completionRequestBody({ ...request, prompt: request.prompt }, isStream),
      isLegacy: true,
    } as const;
  }
  return {
    path: "/chat/completions",
    body: chatRequestBody(request, isStream),
    isLegacy: false,
  } as const;
}

/** The whole answer of `endpoint` as a Generation. */
async function readGeneration(
  endpoint: ReturnType<typeof endpointOf>,
  read: <T>(schema: z.ZodType<T>, what: string) => Promise<T>,
): Promise<Generation> {
  if (endpoint.isLegacy) {
    return generationOfCompletion(await read(CompletionSchema, NOT_A_TEXT_COMPLETION));
  }
  return generationOfChatCompletion(await read(ChatCompletionSchema, NOT_A_COMPLETION));
}

/**
 * A backend that speaks Chat Completions and Embeddings to any OpenAI-compatible upstream (vLLM,
 * Ollama, llama.cpp server, LM Studio, OpenAI). One call is one HTTP request: it never retries,
 * because retries (with backoff and Retry-After) belong to the executor, which reads
 * `BackendError.retryable` and `retryAfterMs`. When the caller's signal aborts, the HTTP request
 * is closed and the caller's abort reason is rethrown unchanged, never a BackendError.
 */
export function createOpenAICompatibleBackend(options: OpenAICompatibleBackendOptions): Backend {
  const { context, post, readAnswer, callOnce } = createUpstreamCaller(options);

  return {
    name: options.name,

    generate(request: GenerateRequest, signal: AbortSignal): Promise<Generation> {
      return callOnce(signal, async (combined, onHeaders) => {
        const endpoint = endpointOf(request, false);
        const response = await post(endpoint.path, endpoint.body, JSON_TYPE, combined);
        onHeaders();
        return readGeneration(endpoint, (schema, what) => readAnswer(response, schema, what));
      });
    },

    /**
     * Timeouts: `timeoutMs` bounds the wait for the response headers and then each silence
     * between body chunks (armed only while waiting on the upstream, not while the consumer
     * holds a delta). Not the whole call: a healthy 4,000-token answer at 20 tokens/s takes
     * 200 s, so a total budget would have to be so large that a stalled upstream would hold its
     * concurrency slot for minutes; silence is what marks a dead upstream. But silence is not
     * all: an upstream that drips a byte (or a keep-alive comment) every few seconds is never
     * silent, so `deadlineMs` also bounds the whole call, however steady the drip.
     */
    async *streamGenerate(request: GenerateRequest, signal: AbortSignal) {
      const deadline = createDeadline(context.timeoutMs);
      // Unlike `deadline`, armed once for the whole call: time the consumer takes counts too,
      // since the call holds its HTTP request and concurrency slot all the while.
      const total = createDeadline(context.deadlineMs);
      total.arm();
      // Closes the HTTP request when the consumer stops iterating before the end.
      const stop = new AbortController();
      let phase: Phase = "connect";
      deadline.arm();
      try {
        const combined = AbortSignal.any([signal, deadline.signal, total.signal, stop.signal]);
        const endpoint = endpointOf(request, true);
        const response = await post(endpoint.path, endpoint.body, SSE_TYPE, combined);
        deadline.disarm();
        phase = "body";
        if (response.headers.get("content-type")?.includes(JSON_TYPE) === true) {
          // A server that ignores `stream: true` answers with one whole completion.
          deadline.arm();
          const generation = await readGeneration(endpoint, (schema, what) =>
            readAnswer(response, schema, what),
          );
          deadline.disarm();
          yield* eventsOfGeneration(generation);
          return;
        }
        if (response.body === null) {
          throw earlyClose(context);
        }
        yield* readChatStream(response.body, context, deadline);
      } catch (thrown) {
        const err = coerceError(thrown);
        throw toFailure(err, {
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
      return callOnce(signal, async (combined, onHeaders) => {
        const body = embeddingsRequestBody(request);
        const response = await post("/embeddings", body, JSON_TYPE, combined);
        onHeaders();
        const answer = await readAnswer(response, EmbeddingListSchema, NOT_EMBEDDINGS);
        return {
          vectors: toEmbeddingVectors(answer, request.inputs.length, context),
          promptTokens: answer.usage?.prompt_tokens ?? 0,
        };
      });
    },
  };
}
