import type { ModelMessage } from "../backends/backend.js";
import { textsOfMessage } from "../backends/message-text.js";
import {
  countTextTokensUpTo,
  MAX_CHARS_PER_TOKEN,
  MAX_TOKENS_PER_CHAR,
} from "../backends/mock/tokenizer.js";
import { ApiError } from "../lib/api-error.js";

/** The request field that holds the text: Responses' input, Chat's messages, Completions' prompt. */
export type ContextParam = "input" | "messages" | "prompt";

// OpenAI's chat format spends 3 tokens framing each message and 3 priming the reply.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PRIMING_REPLY = 3;

/**
 * Throws OpenAI's 400 `context_length_exceeded` when `messages` cannot fit a context window of
 * `contextTokens`. Cheap whatever the size: the length alone settles most requests (a text is at
 * most 3 tokens per character and at least one per 128), and only one whose bounds straddle the
 * window is tokenized, and then only until the count passes the window.
 */
export function assertFitsContext(
  messages: readonly ModelMessage[],
  contextTokens: number,
  param: ContextParam,
): void {
  const framing = TOKENS_PRIMING_REPLY + TOKENS_PER_MESSAGE * messages.length;
  const chars = conversationLength(messages);
  if (framing + chars * MAX_TOKENS_PER_CHAR <= contextTokens) {
    return;
  }
  const atLeast = framing + Math.ceil(chars / MAX_CHARS_PER_TOKEN);
  if (atLeast > contextTokens) {
    throw contextLengthExceeded(contextTokens, atLeast, param);
  }
  let counted = framing;
  for (const message of messages) {
    for (const text of textsOfMessage(message)) {
      counted += countTextTokensUpTo(text, contextTokens - counted);
      if (counted > contextTokens) {
        // Counting stopped past the window: the rest was never tokenized.
        throw contextLengthExceeded(contextTokens, counted, param);
      }
    }
  }
}

/** The characters a conversation's text holds: what the cheap bounds are computed from. */
export function conversationLength(messages: readonly ModelMessage[]): number {
  let chars = 0;
  for (const message of messages) {
    chars += textLength(message);
  }
  return chars;
}

/** The least number of tokens `chars` characters can be. */
export function leastTokensFor(chars: number): number {
  return Math.ceil(chars / MAX_CHARS_PER_TOKEN);
}

/**
 * OpenAI's words for it, but for "at least": counting stops once the window is passed, so
 * `tokens` is a lower bound, not the whole count.
 */
export function contextLengthExceeded(
  contextTokens: number,
  tokens: number,
  param: ContextParam,
): ApiError {
  return new ApiError(
    400,
    `This model's maximum context length is ${contextTokens} tokens. However, your messages ` +
      `resulted in at least ${tokens} tokens. Please reduce the length of the messages.`,
    { param, code: "context_length_exceeded", headers: { "x-should-retry": "false" } },
  );
}

function textLength(message: ModelMessage): number {
  let chars = 0;
  for (const text of textsOfMessage(message)) {
    chars += text.length;
  }
  return chars;
}
