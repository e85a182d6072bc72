import type { TokenLogprob } from "../backends/model-contract.js";

/**
 * The legacy Completions API's logprobs object: four parallel arrays, one entry per token, where
 * Chat has a list of objects. `top_logprobs[i]` maps each alternative token to its log
 * probability, and always holds the chosen token too (OpenAI: "up to logprobs+1 elements").
 * `text_offset[i]` is where token i starts in the choice's `text`.
 */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

/**
 * Maps the contract's per-token logprobs to the legacy shape. `topCount` is the request's
 * `logprobs` (0-5): at most that many alternatives per token are kept. `startOffset` is where the
 * first token starts in the choice's text (after an echoed prompt, or after earlier stream
 * chunks).
 */
export function completionLogprobsOf(
  logprobs: readonly TokenLogprob[],
  topCount: number,
  startOffset: number,
): CompletionLogprobs {
  const result: CompletionLogprobs = {
    tokens: [],
    token_logprobs: [],
    top_logprobs: [],
    text_offset: [],
  };
  let offset = startOffset;
  for (const logprob of logprobs) {
    result.tokens.push(logprob.token);
    result.token_logprobs.push(logprob.logprob);
    const alternatives = new Map<string, number>();
    for (const top of logprob.topLogprobs.slice(0, topCount)) {
      alternatives.set(top.token, top.logprob);
    }
    if (!alternatives.has(logprob.token)) {
      alternatives.set(logprob.token, logprob.logprob);
    }
    // fromEntries defines own properties, so a token spelled "__proto__" stays a plain key.
    result.top_logprobs.push(Object.fromEntries(alternatives));
    result.text_offset.push(offset);
    offset += logprob.token.length;
  }
  return result;
}
