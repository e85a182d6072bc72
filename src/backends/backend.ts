/**
 * The Backend interface: what the services and the executor need from an inference engine.
 * `mock` implements it in-process; an OpenAI-compatible upstream implements it over HTTP.
 * Requests arrive already translated to chat messages (see translate/), so a backend never sees
 * the Responses API's item shapes.
 */

export type ChatRole = "system" | "developer" | "user" | "assistant" | "tool";

export interface ToolCall {
  readonly id: string;
  readonly name: string;
  /** JSON text, as the model wrote it. */
  readonly arguments: string;
}

export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string;
  /** On an assistant message: the function calls it made. */
  readonly toolCalls?: readonly ToolCall[];
  /** On a tool message: the call it answers. */
  readonly toolCallId?: string;
}

export interface GenerateRequest {
  /** The public model name the client asked for. */
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly maxOutputTokens: number | null;
  readonly temperature: number | null;
  readonly topP: number | null;
  /** Request metadata; the mock reads its test knobs (`mock_delay_ms`, `mock_error`) here. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Distinguishes the choices of one chat request with `n > 1`. */
  readonly choiceIndex?: number;
}

export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cachedInputTokens: number;
  readonly reasoningTokens: number;
}

/** `length` means the output token limit cut the text short. */
export type FinishReason = "stop" | "length";

export interface Generation {
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly usage: TokenUsage;
}

export type GenerationEvent =
  | { readonly type: "delta"; readonly text: string }
  | { readonly type: "done"; readonly finishReason: FinishReason; readonly usage: TokenUsage };

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

export interface Backend {
  readonly name: string;
  /** Whole answer at once. Rejects with BackendError; aborts when `signal` fires. */
  generate(request: GenerateRequest, signal: AbortSignal): Promise<Generation>;
  /** The same answer as deltas, ending with exactly one `done` event. */
  streamGenerate(request: GenerateRequest, signal: AbortSignal): AsyncIterable<GenerationEvent>;
  embed(request: EmbedRequest, signal: AbortSignal): Promise<EmbedResult>;
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

  constructor(
    message: string,
    options: {
      status: number | null;
      retryable?: boolean;
      retryAfterMs?: number | null;
      type?: string;
      code?: string | null;
      param?: string | null;
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
  }
}

/** The statuses OpenAI's SDKs retry; a connection error (status null) is retryable too. */
export function isRetryableStatus(status: number | null): boolean {
  return status === null || status === 408 || status === 409 || status === 429 || status >= 500;
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
