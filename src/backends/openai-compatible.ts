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
import { NOT_EMBEDDINGS, toEmbeddingVectors } from "./openai-compatible/embedding-vectors.js";
import { isPlainChatCompletion } from "./openai-compatible/plain-chat-completion.js";
import { readChatStream } from "./openai-compatible/read-chat-stream.js";
import { memoizeRequestText } from "./openai-compatible/request-text.js";
import {
  createUpstreamCaller,
  type UpstreamCaller,
  type UpstreamResponse,
} from "./openai-compatible/upstream-call.js";
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
  /**
   * The most connections to the upstream, kept alive between calls: the backend's
   * max_concurrency, since no more calls than that are ever in flight. Unset: no limit.
   */
  readonly maxConnections?: number;
}

const JSON_TYPE = "application/json";
const SSE_TYPE = "text/event-stream";
const NOT_A_COMPLETION = "an OpenAI chat completion";
const NOT_A_TEXT_COMPLETION = "an OpenAI text completion";

/**
 * A backend that speaks Chat Completions and Embeddings to any OpenAI-compatible upstream (vLLM,
 * Ollama, llama.cpp server, LM Studio, OpenAI). One call is one HTTP request: it never retries,
 * because retries (with backoff and Retry-After) belong to the executor, which reads
 * `BackendError.retryable` and `retryAfterMs`. When the caller's signal aborts, the HTTP request
 * is closed and the caller's abort reason is rethrown unchanged, never a BackendError.
 */
export function createOpenAICompatibleBackend(options: OpenAICompatibleBackendOptions): Backend {
  return chatBackendOver(createUpstreamCaller(options), options.name);
}

/**
 * The Chat Completions backend over an existing caller (and so its connection pool): the
 * native Responses backend embeds through it.
 */
export function chatBackendOver(caller: UpstreamCaller, name: string): Backend {
  const { context, post, readAnswer, callOnce, startCall } = caller;
  // Built and serialised once per request, however often a service retries it.
  const chatText = {
    json: memoizeRequestText((request: GenerateRequest) => chatRequestBody(request, false)),
    sse: memoizeRequestText((request: GenerateRequest) => chatRequestBody(request, true)),
  };
  const completionText = {
    json: memoizeRequestText((request: PromptRequest) => completionRequestBody(request, false)),
    sse: memoizeRequestText((request: PromptRequest) => completionRequestBody(request, true)),
  };
  const embeddingsText = memoizeRequestText(embeddingsRequestBody);

  /**
   * Where a request goes and how its whole answer reads: the legacy `/completions` for a raw
   * prompt, `/chat/completions` for everything else.
   */
  function endpointOf(request: GenerateRequest, isStream: boolean) {
    const kind = isStream ? "sse" : "json";
    if (request.prompt !== undefined) {
      return {
        path: "/completions",
        body: completionText[kind](request as PromptRequest),
        isLegacy: true,
      } as const;
    }
    return { path: "/chat/completions", body: chatText[kind](request), isLegacy: false } as const;
  }

  /** The whole answer of `endpoint` as a Generation. */
  async function readGeneration(
    endpoint: ReturnType<typeof endpointOf>,
    response: UpstreamResponse,
  ): Promise<Generation> {
    if (endpoint.isLegacy) {
      return generationOfCompletion(
        await readAnswer(response, CompletionSchema, NOT_A_TEXT_COMPLETION),
      );
    }
    return generationOfChatCompletion(
      await readAnswer(response, ChatCompletionSchema, NOT_A_COMPLETION, isPlainChatCompletion),
    );
  }

  return {
    name,

    async generate(request: GenerateRequest, signal: AbortSignal): Promise<Generation> {
      // Built before the call: a request that cannot be written is not an upstream failure (it
      // must not count as a refused connection, nor be retried).
      const endpoint = endpointOf(request, false);
      return callOnce(signal, async (combined, onHeaders) => {
        const response = await post(endpoint.path, endpoint.body, JSON_TYPE, combined);
        onHeaders();
        return readGeneration(endpoint, response);
      });
    },

    /**
     * Timeouts: `timeoutMs` bounds the wait for the response headers and then each silence
     * between body chunks (armed only while waiting on the upstream, not while the consumer
     * holds a delta). Not the whole call: a healthy 4,000-token answer at 20 tokens/s takes
     * 200 s, so a total budget would have to be so large that a stalled upstream would hold its
     * concurrency slot for minutes; silence is what marks a dead upstream. But silence is not
     * all: an upstream that drips a byte (or a keep-alive comment) every few seconds is never
     * silent, so `deadlineMs` also bounds the whole call, however steady the drip (it counts
     * the time the consumer takes too, since the call holds its HTTP request and concurrency
     * slot all the while).
     */
    async *streamGenerate(request: GenerateRequest, signal: AbortSignal) {
      const endpoint = endpointOf(request, true);
      const call = startCall(signal, true);
      call.deadline.arm();
      try {
        const response = await post(endpoint.path, endpoint.body, SSE_TYPE, call.signal);
        call.deadline.disarm();
        call.gotHeaders();
        if (response.headers.get("content-type")?.includes(JSON_TYPE) === true) {
          // A server that ignores `stream: true` answers with one whole completion.
          call.deadline.arm();
          const generation = await readGeneration(endpoint, response);
          call.deadline.disarm();
          yield* eventsOfGeneration(generation);
          return;
        }
        yield* readChatStream(response.body, context, call.deadline);
      } catch (thrown) {
        throw call.failure(thrown);
      } finally {
        // Closes the HTTP request when the consumer stopped before the end; a no-op otherwise.
        call.end(true);
      }
    },

    embed(request: EmbedRequest, signal: AbortSignal): Promise<EmbedResult> {
      return callOnce(signal, async (combined, onHeaders) => {
        const response = await post("/embeddings", embeddingsText(request), JSON_TYPE, combined);
        onHeaders();
        const answer = await readAnswer(response, EmbeddingListSchema, NOT_EMBEDDINGS);
        return {
          vectors: toEmbeddingVectors(answer, request.inputs.length, context),
          promptTokens: answer.usage?.prompt_tokens ?? 0,
        };
      });
    },

    close: () => caller.close(),
  };
}

type PromptRequest = GenerateRequest & { prompt: string };
