import { BackendError } from "../backends/backend.js";
import type { BatchEndpoint } from "../contract/batches-request.js";
import type { RetryPolicy } from "../executor/retry.js";
import { ApiError } from "../lib/api-error.js";
import type { CallOptions } from "./call-options.js";
import type { ChatCompletionsService } from "./chat-completions.js";
import type { CompletionsService } from "./completions.js";
import type { EmbeddingsService } from "./embeddings.js";
import type { ResponsesService } from "./responses.js";

/**
 * Running an inference endpoint's request later, away from its HTTP call: a batch line or an
 * OctoAI future. The body goes through the same service as a live request to its endpoint.
 */

/**
 * One attempt per run: the executor owns retries for queued work, with backoff that frees the
 * slot instead of sleeping in it.
 */
export const SINGLE_ATTEMPT: RetryPolicy = { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0 };

/** The endpoints whose requests can be queued: the batch endpoints. */
export type QueuedEndpoint = BatchEndpoint;

export interface EndpointServices {
  readonly responses: ResponsesService;
  readonly chat: ChatCompletionsService;
  readonly completions: CompletionsService;
  readonly embeddings: EmbeddingsService;
}

type ResponseRequest = Parameters<ResponsesService["prepare"]>[1];
type ChatRequest = Parameters<ChatCompletionsService["complete"]>[1];
type CompletionRequest = Parameters<CompletionsService["complete"]>[0];
type EmbeddingRequest = Parameters<EmbeddingsService["create"]>[0];

/**
 * A queued Responses request runs once, unstreamed and unstored: its answer is kept by what
 * queued it (the batch's output, the future), and a re-run after a crash must not store a second
 * response.
 */
function asQueuedResponse(body: Record<string, unknown>): ResponseRequest {
  return { ...(body as ResponseRequest), store: false, stream: false, background: false };
}

/**
 * Every check the endpoint's service makes before its backend call, so that a bad request is
 * refused (its 4xx thrown) when it is queued rather than failing later; returns the name of the
 * backend that will run it, whose queue it joins.
 */
export async function checkQueuedRequest(
  services: EndpointServices,
  projectId: string,
  endpoint: QueuedEndpoint,
  body: Record<string, unknown>,
): Promise<string> {
  switch (endpoint) {
    case "/v1/responses":
      return (await services.responses.prepare(projectId, asQueuedResponse(body))).backend.name;
    case "/v1/chat/completions":
      return services.chat.backendFor(projectId, { ...(body as ChatRequest), stream: false });
    case "/v1/completions":
      return services.completions.backendFor({ ...(body as CompletionRequest), stream: false });
    case "/v1/embeddings":
      return services.embeddings.backendFor(body as EmbeddingRequest);
  }
}

/**
 * The endpoint's answer to `body` (parsed by its schema when it was queued: a second zod parse
 * per run would only make garbage), as the synchronous call would have returned it.
 */
export async function answerQueuedRequest(
  services: EndpointServices,
  projectId: string,
  endpoint: QueuedEndpoint,
  body: Record<string, unknown>,
  signal: AbortSignal,
  call: CallOptions,
): Promise<object> {
  switch (endpoint) {
    case "/v1/responses": {
      const prepared = await services.responses.prepare(projectId, asQueuedResponse(body));
      return services.responses.complete(prepared, signal, call);
    }
    case "/v1/chat/completions":
      return services.chat.complete(
        projectId,
        { ...(body as ChatRequest), stream: false },
        signal,
        call,
      );
    case "/v1/completions":
      return services.completions.complete(
        { ...(body as CompletionRequest), stream: false },
        signal,
        call,
      );
    case "/v1/embeddings":
      return services.embeddings.create(body as EmbeddingRequest, signal, call);
  }
}

/** The HTTP answer a failed request got: its status and OpenAI's error object. */
export interface ErrorAnswer {
  readonly status: number;
  readonly error: {
    readonly message: string;
    readonly type: string;
    readonly param: string | null;
    readonly code: string | null;
  };
}

/**
 * What the synchronous call would have answered for `err`: an ApiError or a backend's failure
 * as the error handler renders them; null for anything else (no HTTP answer of its own).
 */
export function errorAnswerOf(err: Error): ErrorAnswer | null {
  const apiError =
    err instanceof ApiError ? err : err instanceof BackendError ? ApiError.fromBackend(err) : null;
  if (apiError === null) {
    return null;
  }
  return {
    status: apiError.status,
    error: {
      message: apiError.message,
      type: apiError.options.type ?? "invalid_request_error",
      param: apiError.options.param ?? null,
      code: apiError.options.code ?? null,
    },
  };
}
