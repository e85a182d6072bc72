/**
 * The defaults of the bounds on one model call, for backends whose config leaves them out. A
 * config file always has them (its schema fills them in); configs built in code may not.
 */

/** gpt-4o's window: large enough for real conversations, small enough to bound every call. */
export const DEFAULT_CONTEXT_TOKENS = 128_000;
/** Far above any chat answer; a float-encoded embeddings answer of 2,048 large vectors needs ~140 MB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Longer than any healthy answer at a few tokens per second; a drip never outlives it. */
export const DEFAULT_CALL_DEADLINE_MS = 1_800_000;

/** The context window of `model` (its public name): its own entry, else "*", else the default. */
export function contextTokensFor(
  contextTokens: Readonly<Record<string, number>> | undefined,
  model: string,
): number {
  const own = contextTokens !== undefined && Object.hasOwn(contextTokens, model);
  return (own ? contextTokens[model] : contextTokens?.["*"]) ?? DEFAULT_CONTEXT_TOKENS;
}
