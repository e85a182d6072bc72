/**
 * The model contract: what a service asks of a backend and what a backend answers, in neither
 * API's wire shape. Everything both OpenAI APIs (Responses and Chat Completions) can express
 * travels through here, both ways: the surfaces translate their requests into a
 * `GenerateRequest` and a `Generation` (or its stream of events) back into their own objects,
 * and each backend translates the contract into what its engine speaks.
 *
 * Field names are camelCase; values keep OpenAI's meaning (a JSON Schema is a JSON Schema, an
 * image detail is "low" | "high" | "auto"). Nothing a client sent is dropped on the way in: a
 * backend that cannot honour a field rejects the request (a 400 BackendError) rather than
 * ignore it.
 */

export type ChatRole = "system" | "developer" | "user" | "assistant" | "tool";

export type ImageDetail = "auto" | "low" | "high" | "original";

/** One piece of a message's content. */
export type ContentPart =
  | { readonly type: "text"; readonly text: string }
  /**
   * `url` is an http(s) URL or a `data:` URL; a ferry `file_id` is resolved to a data URL by
   * the service before the request reaches a backend (`fileId` is kept for the record).
   */
  | {
      readonly type: "image";
      readonly url: string;
      readonly detail: ImageDetail;
      readonly fileId?: string;
    }
  /** A document: inline (`data`, a data URL or base64), by URL, or a resolved ferry file. */
  | {
      readonly type: "file";
      readonly data?: string;
      readonly url?: string;
      readonly fileId?: string;
      readonly filename?: string;
    }
  | { readonly type: "audio"; readonly data: string; readonly format: string }
  | { readonly type: "refusal"; readonly refusal: string };

export interface ToolCall {
  /** The id that ties the call to its output: Responses `call_id`, Chat `tool_calls[].id`. */
  readonly id: string;
  readonly name: string;
  /** JSON text, as the model wrote it (not re-serialised: a model may write it oddly). */
  readonly arguments: string;
}

export type ModelMessage =
  | { readonly role: "system" | "developer" | "user"; readonly content: readonly ContentPart[] }
  | {
      readonly role: "assistant";
      /** Text and refusal parts. */
      readonly content: readonly ContentPart[];
      /** The function calls this turn made, in order. */
      readonly toolCalls?: readonly ToolCall[];
      /** The turn's reasoning text, when the model showed it (most backends ignore it). */
      readonly reasoning?: string;
    }
  | {
      readonly role: "tool";
      /** The call this message answers. */
      readonly toolCallId: string;
      readonly content: readonly ContentPart[];
    };

/** A JSON Schema object, as the client wrote it. */
export type JsonSchema = Readonly<Record<string, unknown>>;

export interface FunctionTool {
  readonly type: "function";
  readonly name: string;
  readonly description: string | null;
  /** null: the function takes no declared parameters (any object). */
  readonly parameters: JsonSchema | null;
  /** Arguments must match `parameters` exactly (OpenAI's strict mode). */
  readonly strict: boolean;
}

/** Which tools the model may (or must) call. */
export type ToolChoice =
  | { readonly type: "auto" }
  | { readonly type: "none" }
  | { readonly type: "required" }
  | { readonly type: "function"; readonly name: string }
  /** Responses' `allowed_tools`: only these, and `mode` says whether a call is a must. */
  | {
      readonly type: "allowed";
      readonly mode: "auto" | "required";
      readonly names: readonly string[];
    };

export type OutputFormat =
  | { readonly type: "text" }
  | { readonly type: "json_object" }
  | {
      readonly type: "json_schema";
      readonly name: string;
      readonly schema: JsonSchema;
      readonly strict: boolean;
      readonly description: string | null;
    };

/** Sampling knobs; null means "the backend's default" and is not sent upstream. */
export interface Sampling {
  readonly temperature: number | null;
  readonly topP: number | null;
  readonly seed: number | null;
  /** Up to four stop sequences; empty for none. */
  readonly stop: readonly string[];
  readonly presencePenalty: number | null;
  readonly frequencyPenalty: number | null;
  /** Token id (as a decimal string) to bias, -100 to 100. */
  readonly logitBias: Readonly<Record<string, number>> | null;
  /** Return the log probability of each output token. */
  readonly logprobs: boolean;
  /** With `logprobs`: this many most likely alternatives per token (0-20). */
  readonly topLogprobs: number | null;
}

export type ReasoningEffort = "none" | "minimal" | "low" | "medium" | "high" | "xhigh";

export interface GenerateRequest {
  /** The model name to send the backend (the public name resolved through the router). */
  readonly model: string;
  readonly messages: readonly ModelMessage[];
  readonly tools: readonly FunctionTool[];
  readonly toolChoice: ToolChoice;
  readonly parallelToolCalls: boolean;
  readonly outputFormat: OutputFormat;
  readonly sampling: Sampling;
  readonly maxOutputTokens: number | null;
  readonly reasoningEffort: ReasoningEffort | null;
  /** End-user id for the upstream's abuse monitoring: `safety_identifier`, else `user`. */
  readonly user: string | null;
  /** Request metadata; the mock reads its test knobs (`mock_delay_ms`, `mock_error`, …) here. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Distinguishes the choices of one chat request with `n > 1`. */
  readonly choiceIndex?: number;
  /**
   * A raw text prompt, for the legacy Completions API: the model continues this text rather
   * than answering a conversation. `messages` then holds the same text as one user message, for
   * backends that only chat (the mock); an upstream sends it to `/completions` as the prompt.
   */
  readonly prompt?: string;
  /**
   * The client's Responses body as sent (with the conversation behind previous_response_id as
   * input items), for a backend that speaks the Responses API natively and forwards it as is.
   * Other backends ignore it: everything in it is also in the fields above.
   */
  readonly responsesBody?: Readonly<Record<string, unknown>>;
}

export interface TopLogprob {
  readonly token: string;
  readonly logprob: number;
  readonly bytes: readonly number[] | null;
}

export interface TokenLogprob extends TopLogprob {
  readonly topLogprobs: readonly TopLogprob[];
}

/** A part of an assistant message the model wrote. */
export type OutputPart =
  | { readonly type: "text"; readonly text: string; readonly logprobs?: readonly TokenLogprob[] }
  | { readonly type: "refusal"; readonly refusal: string };

/**
 * One item of a generation, in the order the model produced it. `native` is the item exactly as
 * a native Responses upstream returned it (its id, encrypted reasoning, a built-in tool's call):
 * the Responses surface returns it unchanged; the other surfaces read the typed fields.
 */
export type OutputItem =
  | {
      readonly type: "message";
      readonly parts: readonly OutputPart[];
      readonly native?: NativeItem;
    }
  | {
      readonly type: "function_call";
      readonly callId: string;
      readonly name: string;
      readonly arguments: string;
      readonly native?: NativeItem;
    }
  | {
      readonly type: "reasoning";
      /** The reasoning text (Chat servers' `reasoning_content`); "" when only a summary exists. */
      readonly text: string;
      readonly summary: readonly string[];
      readonly encryptedContent: string | null;
      readonly native?: NativeItem;
    }
  /** An item only a native Responses upstream produces (web_search_call, mcp_call, …). */
  | { readonly type: "native"; readonly native: NativeItem };

export type NativeItem = Readonly<Record<string, unknown>>;

/**
 * Why the model stopped: `length` = the output token limit; `tool_calls` = it called tools and
 * waits for their output; `content_filter` = the backend withheld content.
 */
export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter";

export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cachedInputTokens: number;
  readonly reasoningTokens: number;
}

export interface Generation {
  readonly items: readonly OutputItem[];
  readonly finishReason: FinishReason;
  readonly usage: TokenUsage;
}

/**
 * A generation as it streams. Items are numbered from 0 in output order; `item.start` opens
 * item `index` (with everything known up front: a call's id and name), deltas extend it, and an
 * item is complete when the next one starts or `done` arrives: a backend never goes back to an
 * earlier item. `done` comes exactly once, last, and carries the whole generation, so a consumer
 * that only wants the end result need not assemble it (and a native item arrives whole there).
 */
export type GenerationEvent =
  | { readonly type: "item.start"; readonly index: number; readonly item: OutputItemStart }
  | {
      readonly type: "text.delta";
      readonly index: number;
      readonly text: string;
      readonly logprobs?: readonly TokenLogprob[];
    }
  | { readonly type: "refusal.delta"; readonly index: number; readonly text: string }
  | { readonly type: "arguments.delta"; readonly index: number; readonly text: string }
  | { readonly type: "reasoning.delta"; readonly index: number; readonly text: string }
  | { readonly type: "done"; readonly generation: Generation };

export type OutputItemStart =
  | { readonly type: "message" }
  | { readonly type: "function_call"; readonly callId: string; readonly name: string }
  | { readonly type: "reasoning" }
  | { readonly type: "native"; readonly native: NativeItem };

/** The text of a generation's message parts, joined (refusals excluded). */
export function outputText(generation: Pick<Generation, "items">): string {
  let text = "";
  for (const item of generation.items) {
    if (item.type === "message") {
      for (const part of item.parts) {
        if (part.type === "text") {
          text += part.text;
        }
      }
    }
  }
  return text;
}

/** A request's sampling with nothing set. */
export const DEFAULT_SAMPLING: Sampling = Object.freeze({
  temperature: null,
  topP: null,
  seed: null,
  stop: [],
  presencePenalty: null,
  frequencyPenalty: null,
  logitBias: null,
  logprobs: false,
  topLogprobs: null,
});
