import { countTokens, decode, decodeGenerator, encode } from "gpt-tokenizer/encoding/o200k_base";
import type { ModelMessage } from "../backend.js";
import { textsOfMessage } from "../message-text.js";

/**
 * Token counts come from a real BPE tokenizer (o200k_base, the gpt-4o / gpt-4.1 family's), so the
 * usage a client sees from the mock is what OpenAI would bill for the same text.
 */

// OpenAI's chat format spends 3 tokens framing each message and 3 priming the reply
// (see OpenAI's "How to count tokens with tiktoken" cookbook).
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PRIMING_REPLY = 3;

// BPE merges are quadratic in the length of one pre-tokenized piece: 80,000 letters without a
// space take seconds, a few MB would take hours, all on the event loop. A run of whitespace is
// one piece too (20,000 spaces take most of a second). Real text never has such pieces, so a
// run of non-space (or of space) characters longer than this is counted in slices of this
// length (off by about a token per cut, and only for text that is not language anyway).
const MAX_RUN_CHARS = 256;

/**
 * No o200k token is longer than this many characters (its longest is 128 spaces), so a text of
 * n characters is at least n / MAX_CHARS_PER_TOKEN tokens: a bound that needs no tokenizing.
 */
export const MAX_CHARS_PER_TOKEN = 128;

/**
 * Most tokens a text of n UTF-16 code units can be: each token is at least one UTF-8 byte, and
 * a code unit is at most 3 bytes (a surrogate pair, two units, is 4).
 */
export const MAX_TOKENS_PER_CHAR = 3;

export function countTextTokens(text: string): number {
  let total = 0;
  for (const chunk of splitLongRuns(text)) {
    total += countTokens(chunk);
  }
  return total;
}

// Slices for counting with an early stop: large enough that the per-call cost vanishes, small
// enough that a count stops within a few ms of passing its limit.
const COUNT_SLICE_CHARS = 64 * 1024;

/**
 * The tokens of `text`, counting only until the count passes `limit`: the cost is that of about
 * `limit` tokens, however long the text. A result above `limit` is then a lower bound. Slices
 * are cut just before a whitespace, where a word's token begins anyway, so for text with spaces
 * the count is that of the whole text.
 */
export function countTextTokensUpTo(text: string, limit: number): number {
  let total = 0;
  let start = 0;
  while (start < text.length && total <= limit) {
    let end = Math.min(text.length, start + COUNT_SLICE_CHARS);
    const stop = Math.min(text.length, end + MAX_RUN_CHARS);
    while (end < stop && !isSpace(text.charCodeAt(end))) {
      end++;
    }
    total += countTextTokens(text.slice(start, end));
    start = end;
  }
  return total;
}

function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

/** `text` in chunks, cut only inside runs of (non-)space characters longer than MAX_RUN_CHARS. */
function* splitLongRuns(text: string): Generator<string> {
  let chunkStart = 0;
  let runStart = 0;
  let isSpaceRun = false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    const isSpaceChar = isSpace(code);
    if (isSpaceChar !== isSpaceRun) {
      isSpaceRun = isSpaceChar;
      runStart = index;
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
  messages: readonly ModelMessage[],
  countText: (text: string) => number = countTextTokens,
): number {
  let total = TOKENS_PRIMING_REPLY;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE;
    for (const text of textsOfMessage(message)) {
      total += countText(text);
    }
  }
  return total;
}

/**
 * The tokens of `text`, with long runs encoded in slices as `countTextTokens` counts them: the
 * mock's own output can hold such a run (a schema's `pattern: "^a{100000}$"`, a `minLength`
 * filled with one word), and BPE on one 100,000-letter piece held the event loop for 20 s.
 */
export function encodeText(text: string): number[] {
  const tokens: number[] = [];
  for (const chunk of splitLongRuns(text)) {
    for (const token of encode(chunk)) {
      tokens.push(token);
    }
  }
  return tokens;
}

export function decodeTokens(tokens: readonly number[]): string {
  return decode(tokens);
}

/** Yields the text of each token; multi-byte characters split across tokens are held back whole. */
export function* decodeTokenPieces(tokens: readonly number[]): Generator<string> {
  yield* decodeGenerator(tokens);
}
