import { z } from "zod";

/**
 * Longest model name a request may carry. Real names are short (`gpt-4o-mini`,
 * `meta-llama/Llama-3.1-8B-Instruct`); without a limit a wildcard backend would accept, store and
 * echo a 5 MB name.
 */
export const MAX_MODEL_NAME_LENGTH = 256;

/** `model` on every inference request: 1-256 characters, no control characters (NUL included). */
export const ModelNameSchema = z
  .string()
  .min(1)
  .max(MAX_MODEL_NAME_LENGTH, `a model name is at most ${MAX_MODEL_NAME_LENGTH} characters`)
  .regex(/^[^\p{Cc}]*$/u, "a model name must not contain control characters");

export function isValidModelName(name: string): boolean {
  return ModelNameSchema.safeParse(name).success;
}
