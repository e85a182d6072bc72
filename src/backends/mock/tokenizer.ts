import { countTokens, decode, decodeGenerator, encode } from "gpt-tokenizer/encoding/o200k_base";
import type { ChatMessage } from "../backend.js";

/**
 * Token counts come from a real BPE tokenizer (o200k_base, the gpt-4o / gpt-4.1 family's), so the
 * usage a client sees from the mock is what OpenAI would bill for the same text.
 */

// OpenAI's chat format spends 3 tokens framing each message and 3 priming the reply
// (see OpenAI's "How to count tokens with tiktoken" cookbook).
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PRIMING_REPLY = 3;

export function countTextTokens(text: string): number {
  return countTokens(text);
}

/** `countText` counts one message's content; pass a cached counter to skip repeated BPE runs. */
export function countChatTokens(
  messages: readonly ChatMessage[],
  countText: (text: string) => number = countTextTokens,
): number {
  let total = TOKENS_PRIMING_REPLY;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE + countText(message.content);
  }
  return total;
}

export function encodeText(text: string): number[] {
  return encode(text);
}

export function decodeTokens(tokens: readonly number[]): string {
  return decode(tokens);
}

/** Yields the text of each token; multi-byte characters split across tokens are held back whole. */
export function* decodeTokenPieces(tokens: readonly number[]): Generator<string> {
  yield* decodeGenerator(tokens);
}
