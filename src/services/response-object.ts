import {
  BackendError,
  type FinishReason,
  type Generation,
  type TokenUsage,
} from "../backends/backend.js";
import type {
  ResponseErrorObject,
  ResponseObject,
  ResponseStatus,
  ResponseUsage,
} from "../contract/response-object.js";
import type { CreateResponseRequest } from "../contract/responses-request.js";
import type { ResponseRow } from "../store/schema.js";
import {
  type LogprobsOutput,
  outputItemsOf,
  type ResponseOutputItem,
  summaryWanted,
} from "./response-output.js";

/**
 * Builds the Response object OpenAI returns, from what ferry stores. Everything the client set
 * that OpenAI echoes back is kept in `params`, with OpenAI's defaults filled in at build time.
 */

/** The request fields that the Response object echoes. */
export interface ResponseParams {
  instructions: string | null;
  max_output_tokens: number | null;
  max_tool_calls: number | null;
  parallel_tool_calls: boolean;
  prompt_cache_key: string | null;
  reasoning: { effort: string | null; summary: string | null };
  safety_identifier: string | null;
  service_tier: string;
  temperature: number;
  text: { format: Record<string, unknown>; verbosity: string };
  tool_choice: unknown;
  tools: unknown[];
  top_logprobs: number;
  top_p: number;
  truncation: "auto" | "disabled";
  user: string | null;
}

export function paramsFromRequest(request: CreateResponseRequest): ResponseParams {
  return {
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    max_tool_calls: request.max_tool_calls ?? null,
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    prompt_cache_key: request.prompt_cache_key ?? null,
    reasoning: {
      effort: request.reasoning?.effort ?? null,
      summary: request.reasoning?.summary ?? request.reasoning?.generate_summary ?? null,
    },
    safety_identifier: request.safety_identifier ?? null,
    // "auto" resolves to the tier that served the request; ferry has one.
    service_tier:
      request.service_tier === undefined ||
      request.service_tier === null ||
      request.service_tier === "auto"
        ? "default"
        : request.service_tier,
    temperature: request.temperature ?? 1,
    text: {
      format: request.text?.format ?? { type: "text" },
      verbosity: request.text?.verbosity ?? "medium",
    },
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    top_logprobs: request.top_logprobs ?? 0,
    top_p: request.top_p ?? 1,
    truncation: request.truncation ?? "disabled",
    user: request.user ?? null,
  };
}

/**
 * What a request that sets nothing gets: paramsFromRequest's fallbacks. A stored row keeps only
 * the params that differ (storedParams), so a typical row carries `{}` instead of ~400 bytes of
 * defaults: less JSON to encode and fewer pages to write on the hot insert. Rows written before
 * this hold every param, which reads back the same.
 */
const DEFAULT_PARAMS: Readonly<ResponseParams> = deepFreeze(
  paramsFromRequest({ model: "", input: "" } as CreateResponseRequest),
);

// Responses read from rows share the default objects (reasoning, text, tools): none may change.
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) {
      deepFreeze(inner);
    }
    Object.freeze(value);
  }
  return value;
}

/** Whether `value` is what the request would have had by default for `key`. */
function isDefaultParam(key: keyof ResponseParams, value: ResponseParams[keyof ResponseParams]) {
  switch (key) {
    case "reasoning": {
      const reasoning = value as ResponseParams["reasoning"];
      return reasoning.effort === null && reasoning.summary === null;
    }
    case "text": {
      const text = value as ResponseParams["text"];
      return (
        text.verbosity === "medium" &&
        text.format.type === "text" &&
        Object.keys(text.format).length === 1
      );
    }
    case "tools":
      return (value as unknown[]).length === 0;
    default:
      return value === DEFAULT_PARAMS[key];
  }
}

const PARAM_KEYS = Object.keys(DEFAULT_PARAMS) as (keyof ResponseParams)[];

/** The params a row stores: only those that differ from the defaults. */
export function storedParams(params: ResponseParams): Partial<ResponseParams> {
  const stored: Partial<Record<keyof ResponseParams, unknown>> = {};
  for (const key of PARAM_KEYS) {
    if (!isDefaultParam(key, params[key])) {
      stored[key] = params[key];
    }
  }
  return stored as Partial<ResponseParams>;
}

/** The full params of a stored row: what it kept, over the defaults. */
export function paramsFromStored(stored: Record<string, unknown>): ResponseParams {
  return { ...DEFAULT_PARAMS, ...stored } as ResponseParams;
}

/** What a Response is made from: the stored row, or the in-flight state while streaming. */
export interface ResponseState {
  id: string;
  createdAt: number;
  completedAt: number | null;
  status: ResponseStatus;
  model: string;
  background: boolean;
  store: boolean;
  previousResponseId: string | null;
  params: ResponseParams;
  metadata: Record<string, string>;
  output: unknown[];
  usage: ResponseUsage | null;
  error: ResponseErrorObject | null;
  incompleteDetails: { reason: "max_output_tokens" | "content_filter" } | null;
}

export function toResponseObject(state: ResponseState): ResponseObject {
  return {
    id: state.id,
    object: "response",
    created_at: state.createdAt,
    status: state.status,
    background: state.background,
    completed_at: state.completedAt,
    error: state.error,
    incomplete_details: state.incompleteDetails,
    instructions: state.params.instructions,
    max_output_tokens: state.params.max_output_tokens,
    max_tool_calls: state.params.max_tool_calls,
    model: state.model,
    output: state.output,
    parallel_tool_calls: state.params.parallel_tool_calls,
    previous_response_id: state.previousResponseId,
    prompt_cache_key: state.params.prompt_cache_key,
    reasoning: state.params.reasoning,
    safety_identifier: state.params.safety_identifier,
    service_tier: state.params.service_tier,
    store: state.store,
    temperature: state.params.temperature,
    text: state.params.text,
    tool_choice: state.params.tool_choice,
    tools: state.params.tools,
    top_logprobs: state.params.top_logprobs,
    top_p: state.params.top_p,
    truncation: state.params.truncation,
    metadata: state.metadata,
    // The spec types these as non-null; OpenAI sends null but the SDKs read a missing field the
    // same way, so an unset value is left out rather than sent as null.
    ...(state.usage === null ? {} : { usage: state.usage }),
    ...(state.params.user === null ? {} : { user: state.params.user }),
  };
}

export function toResponseUsage(usage: TokenUsage): ResponseUsage {
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: usage.cachedInputTokens, cache_write_tokens: 0 },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

/** The terminal status a finished generation gives a response. */
export function statusForFinish(finishReason: FinishReason): "completed" | "incomplete" {
  return finishReason === "length" || finishReason === "content_filter"
    ? "incomplete"
    : "completed";
}

/**
 * The state after a generation finished: completed, or incomplete when the token limit (or a
 * content filter) cut it. `output` is the items already built (a stream built them as it went,
 * with the ids its events announced); otherwise they are built from the generation.
 */
export function finishedState(
  state: ResponseState,
  generation: Generation,
  nowSeconds: number,
  options: { logprobs: LogprobsOutput; output?: ResponseOutputItem[] },
): ResponseState {
  const status = statusForFinish(generation.finishReason);
  return {
    ...state,
    status,
    completedAt: status === "completed" ? nowSeconds : null,
    output:
      options.output ??
      outputItemsOf(
        generation,
        status === "completed" ? "completed" : "incomplete",
        options.logprobs,
        { id: state.id, summary: summaryWanted(state.params) },
      ),
    usage: toResponseUsage(generation.usage),
    incompleteDetails:
      status === "incomplete"
        ? {
            reason:
              generation.finishReason === "content_filter" ? "content_filter" : "max_output_tokens",
          }
        : null,
  };
}

/** How a background response's work went before it failed for good: for the diagnostic. */
export interface FailureContext {
  readonly backend: string;
  readonly attempts: number;
}

export function failedState(
  state: ResponseState,
  err: Error,
  context?: FailureContext,
): ResponseState {
  return { ...state, status: "failed", error: responseErrorFor(err, context) };
}

/**
 * The `error` of a failed Response: one of the spec's ResponseErrorCode values and a message.
 * With the work's context (a background response), the message says which backend answered
 * what, and after how many attempts, so a client can tell a refusal from an outage.
 */
export function responseErrorFor(err: Error, context?: FailureContext): ResponseErrorObject {
  const message = context === undefined ? err.message : failureDiagnostic(err, context);
  if (err instanceof BackendError) {
    if (err.status === 429) {
      return { code: "rate_limit_exceeded", message };
    }
    // The backend refused the request itself (a final 4xx): the prompt, not a server, is at fault.
    const isRefused =
      err.status !== null && err.status >= 400 && err.status < 500 && !err.retryable;
    return { code: isRefused ? "invalid_prompt" : "server_error", message };
  }
  return { code: "server_error", message };
}

/** "The backend 'mock' answered 500 (Internal error.) after 4 attempts." */
export function failureDiagnostic(err: Error, context: FailureContext): string {
  const status = err instanceof BackendError ? err.status : null;
  const what = status === null ? "failed" : `answered ${status}`;
  const attempts = `${context.attempts} attempt${context.attempts === 1 ? "" : "s"}`;
  const detail = err.message.trim().replace(/\.$/, "");
  return `The backend '${context.backend}' ${what} (${detail}) after ${attempts}.`;
}

export function stateFromRow(row: ResponseRow): ResponseState {
  return {
    id: row.id,
    createdAt: row.createdAt,
    completedAt: row.completedAt,
    status: row.status as ResponseState["status"],
    model: row.model,
    background: row.background,
    store: true,
    previousResponseId: row.previousResponseId,
    params: paramsFromStored(row.params),
    metadata: row.metadata,
    output: row.output,
    usage: row.usage as unknown as ResponseState["usage"],
    error: row.error,
    incompleteDetails: row.incompleteDetails as ResponseState["incompleteDetails"],
  };
}
