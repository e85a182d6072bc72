import type { TokenLogprob, TopLogprob } from "../model-contract.js";
import { createSeededRandom } from "./seeded-random.js";

/**
 * Deterministic log probabilities for the mock's text tokens: each token gets a logprob of at
 * most 0 and `topLogprobs` alternatives, the token itself first (it is the one "sampled", so
 * the likeliest) and the others below it, each with the UTF-8 bytes of its text.
 */

// Common o200k tokens to offer as the alternatives a model "considered".
const ALTERNATIVES = [
  " the",
  " a",
  ",",
  ".",
  " and",
  " to",
  " of",
  " is",
  " it",
  " that",
  " in",
  " for",
  " you",
  " this",
  " on",
  " with",
  " can",
  " be",
  " as",
  " or",
  " more",
];

export function tokenLogprobs(
  pieces: readonly string[],
  seed: string,
  topLogprobs: number,
): TokenLogprob[] {
  const random = createSeededRandom(`${seed}\u0000logprobs`);
  return pieces.map((token) => {
    // Mostly confident, now and then not: -0 … -2.5, skewed towards 0.
    const logprob = -round(random.next() ** 3 * 2.5);
    const top: TopLogprob[] = [{ token, logprob, bytes: utf8Bytes(token) }];
    let below = logprob;
    for (const alternative of ALTERNATIVES) {
      if (top.length >= topLogprobs) {
        break;
      }
      if (alternative !== token) {
        below = -round(-below + 0.5 + random.next() * 2);
        top.push({ token: alternative, logprob: below, bytes: utf8Bytes(alternative) });
      }
    }
    return { token, logprob, bytes: utf8Bytes(token), topLogprobs: top.slice(0, topLogprobs) };
  });
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

function utf8Bytes(text: string): number[] {
  return [...Buffer.from(text, "utf8")];
}
