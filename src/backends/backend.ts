/**
 * The Backend interface: what the services and the executor need from an inference engine.
 * `mock` implements it in-process; an OpenAI-compatible upstream implements it over HTTP.
 * Requests and answers are in the model contract (model-contract.ts), so a backend never sees
 * either API's wire shapes.
 */

export type {
  ChatRole,
  ContentPart,
  FinishReason,
  FunctionTool,
  GenerateRequest,
  Generation,
  GenerationEvent,
  ModelMessage,
  OutputFormat,
  OutputItem,
  OutputItemStart,
  OutputPart,
  Sampling,
  TokenLogprob,
  TokenUsage,
  ToolCall,
  ToolChoice,
} from "./model-contract.js";

import type { Slot } from "./limiter.js";
import type { GenerateRequest, Generation, GenerationEvent } from "./model-contract.js";

export interface EmbedRequest {
  readonly model: string;
  /** Strings, or pre-tokenized inputs (arrays of token ids), as the embeddings API allows. */
  readonly inputs: readonly (string | readonly number[])[];
  readonly dimensions: number | null;
}

export interface EmbedResult {
  readonly vectors: readonly Float32Array[];
  readonly promptTokens: number;
}

/** How one backend call is made, beyond its request. */
export interface BackendCallOptions {
  /**
   * A slot already held for this call: the executor takes one when it claims work, so the work's
   * call uses it instead of queueing for another. Without one, the call waits for a slot of its
   * own at interactive priority (a client on the line).
   */
  readonly slot?: Slot;
}

export interface Backend {
  readonly name: string;
  /**
   * "responses": the backend speaks the Responses API natively and runs what only it can
   * (built-in tools, encrypted reasoning) from `GenerateRequest.responsesBody`.
   */
  readonly native?: "responses";
  /** Whole answer at once. Rejects with BackendError; aborts when `signal` fires. */
  generate(
    request: GenerateRequest,
    signal: AbortSignal,
    options?: BackendCallOptions,
  ): Promise<Generation>;
  /** The same answer as deltas, ending with exactly one `done` event. */
  streamGenerate(
    request: GenerateRequest,
    signal: AbortSignal,
    options?: BackendCallOptions,
  ): AsyncIterable<GenerationEvent>;
  embed(
    request: EmbedRequest,
    signal: AbortSignal,
    options?: BackendCallOptions,
  ): Promise<EmbedResult>;
  /**
   * Lets go of what the backend holds open (an upstream's pooled connections), at shutdown,
   * once nothing calls it any more; calls still running fail. Optional: wrappers and in-process
   * backends hold nothing.
   */
  close?(): Promise<void>;
}

/**
 * A failure reported by (or on the way to) a backend. `retryable` and `retryAfterMs` drive the
 * executor's retries, so nothing downstream ever inspects message text.
 */
export class BackendError extends Error {
  readonly status: number | null;
  readonly retryable: boolean;
  readonly retryAfterMs: number | null;
  /** OpenAI-style error type and code to show the client, when the backend gave them. */
  readonly type: string;
  readonly code: string | null;
  readonly param: string | null;
  /** The upstream refused the connection (nothing listens, or its backlog is full). */
  readonly isRefused: boolean;

  constructor(
    message: string,
    options: {
      status: number | null;
      retryable?: boolean;
      retryAfterMs?: number | null;
      type?: string;
      code?: string | null;
      param?: string | null;
      isRefused?: boolean;
    },
  ) {
    super(message);
    this.name = "BackendError";
    this.status = options.status;
    this.retryable = options.retryable ?? isRetryableStatus(options.status);
    this.retryAfterMs = options.retryAfterMs ?? null;
    this.type = options.type ?? defaultErrorType(options.status);
    this.code = options.code ?? null;
    this.param = options.param ?? null;
    this.isRefused = options.isRefused ?? false;
  }
}

/** The statuses OpenAI's SDKs retry; a connection error (status null) is retryable too. */
export function isRetryableStatus(status: number | null): boolean {
  return status === null || status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * An answer that says the upstream is over its capacity, not that the request is wrong: 429, 503,
 * or a refused connection (not any connection error: a bad host name, a certificate or a reset
 * keep-alive socket says nothing about load). It lowers the adaptive limit and, for queued work, is retried on a
 * budget of its own (see executor/retry.ts).
 */
export function isOverloadError(err: unknown): boolean {
  return err instanceof BackendError && (err.status === 429 || err.status === 503 || err.isRefused);
}

function defaultErrorType(status: number | null): string {
  if (status === 429) {
    return "rate_limit_error";
  }
  if (status === null || status >= 500) {
    return "server_error";
  }
  return "invalid_request_error";
}
