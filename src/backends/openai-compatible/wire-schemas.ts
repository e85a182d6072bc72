import { z } from "zod";
import type { FinishReason, TokenUsage } from "../backend.js";

/**
 * The parts of an upstream's answers that ferry reads. Lenient on purpose: local servers omit
 * fields, add their own (`timings`, `reasoning_content`), and send null where OpenAI sends 0.
 */

const UsageSchema = z.looseObject({
  prompt_tokens: z.number().nullish(),
  completion_tokens: z.number().nullish(),
  prompt_tokens_details: z.looseObject({ cached_tokens: z.number().nullish() }).nullish(),
  completion_tokens_details: z.looseObject({ reasoning_tokens: z.number().nullish() }).nullish(),
});
type Usage = z.infer<typeof UsageSchema>;

export const ChatCompletionSchema = z.looseObject({
  choices: z
    .array(
      z.looseObject({
        message: z.looseObject({ content: z.string().nullish() }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: UsageSchema.nullish(),
});

export const ChatCompletionChunkSchema = z.looseObject({
  // The include_usage chunk has `choices: []`; some servers leave the key out.
  choices: z
    .array(
      z.looseObject({
        delta: z.looseObject({ content: z.string().nullish() }).nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: UsageSchema.nullish(),
});

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

/** "length" is the only finish ferry distinguishes; tool_calls and content_filter end as stop. */
export function toFinishReason(finishReason: string | null | undefined): FinishReason {
  return finishReason === "length" ? "length" : "stop";
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
