import {
  countTextTokensUpTo,
  MAX_CHARS_PER_TOKEN,
  MAX_TOKENS_PER_CHAR,
} from "../backends/mock/tokenizer.js";
import {
  MAX_EMBEDDING_INPUT_TOKENS,
  MAX_EMBEDDING_REQUEST_TOKENS,
} from "../contract/embeddings-request.js";
import { ApiError } from "../lib/api-error.js";
import { yieldToEventLoop } from "../lib/yield-to-event-loop.js";

// Characters tokenized between yields to the event loop (~20 ms of BPE).
const CHARS_PER_SLICE = 64 * 1024;

/**
 * OpenAI's limits on an embeddings request: at most 8,192 tokens per input and 300,000 summed
 * over the request, as a 400 before any work. Like context-limit.ts, lengths settle most inputs
 * (at most 3 tokens per character, at least one per 128); an input is tokenized only when its
 * bounds straddle a limit, never past it, and the event loop gets a turn between slices.
 */
export async function assertEmbeddingLimits(
  inputs: readonly (string | readonly number[])[],
): Promise<void> {
  let upperTotal = 0;
  for (const input of inputs) {
    upperTotal += typeof input === "string" ? input.length * MAX_TOKENS_PER_CHAR : input.length;
  }
  const isTotalClose = upperTotal > MAX_EMBEDDING_REQUEST_TOKENS;
  let total = 0;
  let charsSinceYield = 0;
  for (const [index, input] of inputs.entries()) {
    let tokens: number;
    if (typeof input !== "string") {
      tokens = input.length;
    } else if (!isTotalClose && input.length * MAX_TOKENS_PER_CHAR <= MAX_EMBEDDING_INPUT_TOKENS) {
      continue;
    } else if (Math.ceil(input.length / MAX_CHARS_PER_TOKEN) > MAX_EMBEDDING_INPUT_TOKENS) {
      tokens = Math.ceil(input.length / MAX_CHARS_PER_TOKEN);
    } else {
      tokens = countTextTokensUpTo(input, MAX_EMBEDDING_INPUT_TOKENS);
      charsSinceYield += input.length;
    }
    if (tokens > MAX_EMBEDDING_INPUT_TOKENS) {
      throw inputTooLong(inputs.length === 1 ? "input" : `input[${index}]`, tokens);
    }
    total += tokens;
    if (total > MAX_EMBEDDING_REQUEST_TOKENS) {
      throw new ApiError(
        400,
        `Requested at least ${total} tokens, max ${MAX_EMBEDDING_REQUEST_TOKENS} tokens per request. ` +
          "Send fewer or shorter inputs per request.",
        { param: "input", code: "max_tokens_per_request", headers: { "x-should-retry": "false" } },
      );
    }
    if (charsSinceYield >= CHARS_PER_SLICE) {
      charsSinceYield = 0;
      await yieldToEventLoop();
    }
  }
}

function inputTooLong(param: string, tokens: number): ApiError {
  return new ApiError(
    400,
    `This model's maximum context length is ${MAX_EMBEDDING_INPUT_TOKENS} tokens, however '${param}' ` +
      `has at least ${tokens} tokens. Please reduce the length of the input.`,
    { param, code: "context_length_exceeded", headers: { "x-should-retry": "false" } },
  );
}
