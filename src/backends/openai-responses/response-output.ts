import { z } from "zod";
import { BackendError } from "../backend.js";
import type {
  FinishReason,
  Generation,
  NativeItem,
  OutputItem,
  OutputPart,
  TokenLogprob,
  TokenUsage,
} from "../model-contract.js";
import { badAnswer, type UpstreamContext } from "../openai-compatible/upstream-error.js";
import { describeIssue } from "../openai-compatible/wire-schemas.js";

/**
 * An upstream's Response object (`POST /responses`, or the `response` of a stream's terminal
 * event) as a Generation. Lenient where servers differ (vLLM leaves fields out, sends null for
 * 0), strict only where ferry needs a value: a function call without its `call_id` could never
 * be answered, so it is a broken answer, not something to paper over.
 */

export const NOT_A_RESPONSE = "an OpenAI Responses response";

const UsageSchema = z.looseObject({
  input_tokens: z.number().nullish(),
  output_tokens: z.number().nullish(),
  input_tokens_details: z.looseObject({ cached_tokens: z.number().nullish() }).nullish(),
  output_tokens_details: z.looseObject({ reasoning_tokens: z.number().nullish() }).nullish(),
});

const ItemSchema = z.looseObject({ type: z.string() });

export const ResponseSchema = z.looseObject({
  status: z.string().nullish(),
  output: z.array(ItemSchema),
  usage: UsageSchema.nullish(),
  incomplete_details: z.looseObject({ reason: z.string().nullish() }).nullish(),
  error: z.looseObject({ message: z.string().nullish(), code: z.string().nullish() }).nullish(),
});
export type UpstreamResponse = z.infer<typeof ResponseSchema>;

const TopLogprobSchema = z.looseObject({
  token: z.string(),
  logprob: z.number(),
  bytes: z.array(z.number()).nullish(),
});
export const LogprobsSchema = z.array(
  TopLogprobSchema.extend({ top_logprobs: z.array(TopLogprobSchema).nullish() }),
);

const MessageSchema = z.looseObject({
  content: z.array(
    z.looseObject({
      type: z.string(),
      text: z.string().nullish(),
      refusal: z.string().nullish(),
      logprobs: LogprobsSchema.nullish(),
    }),
  ),
});

const FunctionCallSchema = z.looseObject({
  call_id: z.string(),
  name: z.string(),
  arguments: z.string(),
});

const ReasoningSchema = z.looseObject({
  summary: z.array(z.looseObject({ text: z.string() })).nullish(),
  content: z.array(z.looseObject({ type: z.string(), text: z.string().nullish() })).nullish(),
  encrypted_content: z.string().nullish(),
});

/** Everything in a Response that ferry reads, or a BackendError for a failed one. */
export function toGeneration(response: UpstreamResponse, context: UpstreamContext): Generation {
  if (response.status === "failed") {
    throw failedResponseError(response, context);
  }
  if (response.status === "queued" || response.status === "in_progress") {
    // ferry sends background: false; an upstream that ran it in the background anyway has no
    // answer yet, and ferry does not poll someone else's background work.
    throw badAnswer(context, "a finished response", `its status is ${response.status}`);
  }
  const items = response.output.map((item, index) => toOutputItem(item, index, context));
  return {
    items,
    finishReason: toFinishReason(response, items),
    usage: toTokenUsage(response.usage),
  };
}

/**
 * One output item: the typed fields the other surfaces read, and `native`, the item exactly as
 * received, which the Responses surface returns unchanged.
 */
export function toOutputItem(
  item: NativeItem & { type: string },
  index: number,
  context: UpstreamContext,
): OutputItem {
  const native: NativeItem = item;
  switch (item.type) {
    case "message": {
      const message = parseItem(MessageSchema, item, index, context);
      const parts: OutputPart[] = [];
      for (const part of message.content) {
        if (part.type === "output_text") {
          const logprobs = part.logprobs;
          parts.push({
            type: "text",
            text: part.text ?? "",
            ...(logprobs === null || logprobs === undefined
              ? {}
              : { logprobs: toTokenLogprobs(logprobs) }),
          });
        } else if (part.type === "refusal") {
          parts.push({ type: "refusal", refusal: part.refusal ?? "" });
        }
        // Other part types (none in OpenAI's spec today) live on in `native`.
      }
      return { type: "message", parts, native };
    }
    case "function_call": {
      const call = parseItem(FunctionCallSchema, item, index, context);
      return {
        type: "function_call",
        callId: call.call_id,
        name: call.name,
        arguments: call.arguments,
        native,
      };
    }
    case "reasoning": {
      const reasoning = parseItem(ReasoningSchema, item, index, context);
      return {
        type: "reasoning",
        text: (reasoning.content ?? [])
          .filter((part) => part.type === "reasoning_text")
          .map((part) => part.text ?? "")
          .join(""),
        summary: (reasoning.summary ?? []).map((part) => part.text),
        encryptedContent: reasoning.encrypted_content ?? null,
        native,
      };
    }
    default:
      // web_search_call, file_search_call, mcp_call, image_generation_call, …: only the
      // Responses surface can show them, and it shows them as they came.
      return { type: "native", native };
  }
}

function parseItem<T>(
  schema: z.ZodType<T>,
  item: NativeItem & { type: string },
  index: number,
  context: UpstreamContext,
): T {
  const parsed = schema.safeParse(item);
  if (!parsed.success) {
    const detail = `output[${index}] (${item.type}): ${describeIssue(parsed.error)}`;
    throw badAnswer(context, NOT_A_RESPONSE, detail);
  }
  return parsed.data;
}

export function toTokenLogprobs(logprobs: z.infer<typeof LogprobsSchema>): TokenLogprob[] {
  return logprobs.map((entry) => ({
    token: entry.token,
    logprob: entry.logprob,
    bytes: entry.bytes ?? null,
    topLogprobs: (entry.top_logprobs ?? []).map((top) => ({
      token: top.token,
      logprob: top.logprob,
      bytes: top.bytes ?? null,
    })),
  }));
}

/**
 * `incomplete` says why it stopped early (OpenAI's two reasons); otherwise a response that
 * called functions waits for their output, which is Chat's "tool_calls".
 */
export function toFinishReason(
  response: Pick<UpstreamResponse, "status" | "incomplete_details">,
  items: readonly OutputItem[],
): FinishReason {
  if (response.status === "incomplete") {
    const reason = response.incomplete_details?.reason;
    if (reason === "max_output_tokens") {
      return "length";
    }
    if (reason === "content_filter") {
      return "content_filter";
    }
  }
  return items.some((item) => item.type === "function_call") ? "tool_calls" : "stop";
}

/** The upstream's counts, 0 where it gave none. */
export function toTokenUsage(usage: z.infer<typeof UsageSchema> | null | undefined): TokenUsage {
  return {
    inputTokens: usage?.input_tokens ?? 0,
    outputTokens: usage?.output_tokens ?? 0,
    cachedInputTokens: usage?.input_tokens_details?.cached_tokens ?? 0,
    reasoningTokens: usage?.output_tokens_details?.reasoning_tokens ?? 0,
  };
}

// The codes of OpenAI's ResponseError that say "the same request may well succeed later"; the
// others (invalid_prompt, invalid_image, …) would fail the same way again.
const RETRYABLE_FAILURE_CODES = new Set(["server_error", "rate_limit_exceeded"]);

/**
 * A response whose status is `failed`. Its HTTP status (a 200, or a stream's) says nothing, so
 * the BackendError has none (the client sees a 502) and only the upstream's code says whether
 * a retry could help.
 */
export function failedResponseError(
  response: Pick<UpstreamResponse, "error">,
  context: UpstreamContext,
): BackendError {
  const code = response.error?.code ?? null;
  const message = response.error?.message || `Upstream ${context.name} reported that it failed`;
  return new BackendError(message, {
    status: null,
    retryable: code !== null && RETRYABLE_FAILURE_CODES.has(code),
    code,
  });
}
