import { z } from "zod";
import { ModelNameSchema } from "./model-name.js";

/**
 * `POST /v1/completions`, the legacy Completions API (CreateCompletionRequest in the official
 * spec). All of OpenAI's fields are accepted; an unknown one is a 400, as OpenAI answers. What
 * ferry cannot honour (`suffix`, `best_of` above `n`, `echo` with `logprobs`) is refused by the
 * service with a message, never dropped.
 */

/** OpenAI's default when `max_tokens` is left out: 16, short, as the legacy API always was. */
export const DEFAULT_COMPLETION_MAX_TOKENS = 16;

/**
 * Most generations one request may ask for, prompts × `n`: each is a backend call, and chat's
 * `n` is capped at 128 too.
 */
export const MAX_COMPLETION_CHOICES = 128;

const TokenArraySchema = z
  .array(z.number().int().min(0))
  .min(1, "a prompt of token ids must not be empty");

export const CreateCompletionRequestSchema = z.strictObject({
  model: ModelNameSchema,
  // A text, several texts, a text as token ids, or several texts as token ids.
  prompt: z.union([
    z.string(),
    z.array(z.string()).min(1, "prompt must not be an empty array"),
    TokenArraySchema,
    z.array(TokenArraySchema).min(1, "prompt must not be an empty array"),
  ]),
  best_of: z.number().int().min(0).max(20).nullable().optional(),
  echo: z.boolean().nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullable().optional(),
  logprobs: z.number().int().min(0).max(5).nullable().optional(),
  max_tokens: z.number().int().min(0).nullable().optional(),
  n: z.number().int().min(1).max(MAX_COMPLETION_CHOICES).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop: z
    .union([z.string(), z.array(z.string()).max(4)])
    .nullable()
    .optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z
    .strictObject({
      include_usage: z.boolean().optional(),
      include_obfuscation: z.boolean().optional(),
    })
    .nullable()
    .optional(),
  suffix: z.string().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  user: z.string().optional(),
});

export type CreateCompletionRequest = z.infer<typeof CreateCompletionRequestSchema>;
