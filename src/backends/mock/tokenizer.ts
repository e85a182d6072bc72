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

// BPE merges are quadratic in the length of one pre-tokenized piece: 80,000 letters without a
// space take seconds, a few MB would take hours, all on the event loop. Real text never has
// such pieces, so a run of non-space characters longer than this is counted in slices of this
// length (off by about a token per cut, and only for text that is not language anyway).
const MAX_RUN_CHARS = 256;

export function countTextTokens(text: string): number {
  let total = 0;
  for (const chunk of splitLongRuns(text)) {
    total += countTokens(chunk);
  }
  return total;
}

/** `text` in chunks, cut only inside runs of non-space characters longer than MAX_RUN_CHARS. */
function* splitLongRuns(text: string): Generator<string> {
  let chunkStart = 0;
  let runStart = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x20 || (code >= 0x09 && code <= 0x0d)) {
      runStart = index + 1;
    } else if (index - runStart >= MAX_RUN_CHARS) {
      // Never between the halves of a surrogate pair.
      const cut = code >= 0xdc00 && code <= 0xdfff && index - 1 > chunkStart ? index - 1 : index;
      yield text.slice(chunkStart, cut);
      chunkStart = cut;
      runStart = cut;
    }
  }
  yield text.slice(chunkStart);
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
