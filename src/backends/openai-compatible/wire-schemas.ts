import { z } from "zod";
import type { FinishReason, TokenUsage } from "../backend.js";

/**
 * The parts of an upstream's answers that ferry reads. Lenient on purpose: local servers omit
 * fields, add their own (`timings`), and send null where OpenAI sends 0 or leaves a key out.
 */

const UsageSchema = z.looseObject({
  prompt_tokens: z.number().nullish(),
  completion_tokens: z.number().nullish(),
  prompt_tokens_details: z.looseObject({ cached_tokens: z.number().nullish() }).nullish(),
  completion_tokens_details: z.looseObject({ reasoning_tokens: z.number().nullish() }).nullish(),
});
type Usage = z.infer<typeof UsageSchema>;

const TopLogprobSchema = z.looseObject({
  token: z.string(),
  logprob: z.number(),
  bytes: z.array(z.number()).nullish(),
});

const TokenLogprobSchema = TopLogprobSchema.extend({
  top_logprobs: z.array(TopLogprobSchema).nullish(),
});
export type WireTokenLogprob = z.infer<typeof TokenLogprobSchema>;

/** A choice's `logprobs`: Chat's per-token list (the refusal's list is not kept by the contract). */
const ChatLogprobsSchema = z.looseObject({ content: z.array(TokenLogprobSchema).nullish() });

/**
 * A tool call, whole (a completion's message) or as a stream fragment (a chunk's delta): in a
 * fragment only `index` is sure, `id` and the name come on the first one, the arguments over many.
 */
const ToolCallSchema = z.looseObject({
  index: z.number().int().nonnegative().nullish(),
  id: z.string().nullish(),
  function: z
    .looseObject({ name: z.string().nullish(), arguments: z.string().nullish() })
    .nullish(),
});
export type WireToolCall = z.infer<typeof ToolCallSchema>;

/** The deprecated single `function_call`, from servers (and old OpenAI models) that still send it. */
const FunctionCallSchema = z.looseObject({
  name: z.string().nullish(),
  arguments: z.string().nullish(),
});

/**
 * What a message and a delta share. Reasoning comes as `reasoning_content` (DeepSeek, vLLM before
 * 0.10, llama.cpp) or `reasoning` (newer vLLM, Ollama's /v1, OpenRouter).
 */
const AssistantFields = {
  content: z.string().nullish(),
  refusal: z.string().nullish(),
  reasoning_content: z.string().nullish(),
  reasoning: z.string().nullish(),
  tool_calls: z.array(ToolCallSchema).nullish(),
  function_call: FunctionCallSchema.nullish(),
};

const MessageSchema = z.looseObject(AssistantFields);
export type WireMessage = z.infer<typeof MessageSchema>;

export const ChatCompletionSchema = z.looseObject({
  id: z.string().nullish(),
  choices: z
    .array(
      z.looseObject({
        message: MessageSchema,
        logprobs: ChatLogprobsSchema.nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: UsageSchema.nullish(),
});
export type WireChatCompletion = z.infer<typeof ChatCompletionSchema>;

/**
 * The legacy Completions API's logprobs: parallel lists, the alternatives as token → logprob maps
 * (null entries where a server had none, e.g. the first token of an echoed prompt).
 */
const LegacyLogprobsSchema = z.looseObject({
  tokens: z.array(z.string()).nullish(),
  token_logprobs: z.array(z.number().nullable()).nullish(),
  top_logprobs: z.array(z.record(z.string(), z.number()).nullable()).nullish(),
  text_offset: z.array(z.number()).nullish(),
});
export type WireLegacyLogprobs = z.infer<typeof LegacyLogprobsSchema>;

/** A choice of a `text_completion` (whole or a stream chunk: the same shape). */
const TextChoiceSchema = z.looseObject({
  text: z.string().nullish(),
  logprobs: LegacyLogprobsSchema.nullish(),
  finish_reason: z.string().nullish(),
});

export const CompletionSchema = z.looseObject({
  choices: z.array(TextChoiceSchema).min(1),
  usage: UsageSchema.nullish(),
});
export type WireCompletion = z.infer<typeof CompletionSchema>;

/**
 * A stream chunk of either API: a `chat.completion.chunk` (a choice with a `delta`) or a
 * `text_completion` chunk (a choice with `text`), so one reader serves both endpoints.
 */
export const StreamChunkSchema = z.looseObject({
  id: z.string().nullish(),
  // The include_usage chunk has `choices: []`; some servers leave the key out.
  choices: z
    .array(
      z.looseObject({
        delta: z.looseObject(AssistantFields).nullish(),
        text: z.string().nullish(),
        // Chat's `{content}` or the legacy lists, by endpoint; no key is in both.
        logprobs: ChatLogprobsSchema.extend(LegacyLogprobsSchema.shape).nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: UsageSchema.nullish(),
});
export type WireStreamChunk = z.infer<typeof StreamChunkSchema>;

export const EmbeddingListSchema = z.looseObject({
  data: z.array(
    z.looseObject({
      index: z.number().int().nonnegative().optional(),
      // Floats as asked; base64 (little-endian float32) from servers that ignore encoding_format.
      embedding: z.union([z.array(z.number()), z.string()]),
    }),
  ),
  usage: z.looseObject({ prompt_tokens: z.number().nullish() }).nullish(),
});

/**
 * The upstream's finish_reason in the contract's terms, given whether the answer called tools.
 * Some servers (llama.cpp, older vLLM parsers) call tools yet say "stop", and a client that sees
 * "stop" would not run them; "tool_calls" (or the deprecated "function_call") without a call is
 * a plain stop, so no client waits for calls that are not there. Anything else a server invents
 * ("eos", "abort", missing) is a plain stop too.
 */
export function toFinishReason(
  finishReason: string | null | undefined,
  hasToolCalls: boolean,
): FinishReason {
  switch (finishReason) {
    case "length":
      return "length";
    case "content_filter":
      return "content_filter";
    default:
      return hasToolCalls ? "tool_calls" : "stop";
  }
}

/** The upstream's counts, 0 where it gave none: ferry reports what was measured, nothing else. */
export function toTokenUsage(usage: Usage | null | undefined): TokenUsage {
  return {
    inputTokens: usage?.prompt_tokens ?? 0,
    outputTokens: usage?.completion_tokens ?? 0,
    cachedInputTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
    reasoningTokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

/** A zod failure as a short phrase for an error message: the first issue and where. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) {
    return "unexpected shape";
  }
  const where = issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
  return `${issue.message}${where}`;
}
