import { createHash, type Hash } from "node:crypto";
import type { BatchEndpoint } from "../contract/batches-request.js";

/**
 * Where a batch line goes in its batch's dispatch order, so that lines sharing a long prompt
 * prefix run one after another and an inference server (vLLM, llama.cpp, SGLang) finds that
 * prefix still in its KV cache. The claim serves an owner's (a batch's) ready rows in
 * (dispatch_rank, id) order; fairness between lanes, projects and batches is untouched.
 *
 * The rank orders lines by two levels of the prompt, most significant first:
 * - the head: what every chat template renders before the conversation: endpoint, model, tools,
 *   and the instructions (Chat's leading system/developer messages; Responses' `instructions`,
 *   `prompt` and leading system/developer input messages). Lines with the same head form one run.
 * - the history: within a head, the messages between the head and the last message, with
 *   `prompt_cache_key` (the client's own grouping hint) and `previous_response_id` /
 *   `conversation` in front. The last message is left out on purpose: in a batch it is nearly
 *   always the part that varies per line (the question), while what comes before it (few-shot
 *   examples, a shared document) is what lines share. Lines with the same history follow each
 *   other within their head's run; the rest keep input order (the claim's tie-break is the id).
 *
 * Each level is a hash, so the order of runs is arbitrary but the same in every batch: two
 * batches of one model with the same system prompts visit those prompts in the same order, and
 * the cache one warmed serves the other. A collision only interleaves two runs (a cache miss,
 * never a wrong answer): 32 bits for the head (distinct heads of one model are few), 21 for the
 * history, so the rank is below 2^53 and exact as a JS number and as a SQLite integer.
 *
 * Legacy Completions have no structure: the head is the first HEAD_CHARS characters of the
 * (first) prompt, the history its first HISTORY_CHARS (token-id prompts: a quarter as many
 * ids). Embeddings have no KV cache to reuse: every line gets the same rank, so input order.
 */

const HISTORY_BITS = 21;
const HISTORY_RANGE = 2 ** HISTORY_BITS;
/** Completions prompt heads: past this many characters, lines share "a long prefix". */
const HEAD_CHARS = 256;
const HISTORY_CHARS = 4096;
/** A token id stands for about four characters of text. */
const CHARS_PER_TOKEN = 4;

/** The prompt's levels, as JSON-able values (exported for tests: what goes into each level). */
export interface PromptPrefix {
  readonly head: unknown;
  readonly history: unknown;
}

/** The dispatch rank of a validated batch line body: an integer in [0, 2^53). */
export function dispatchRankOf(endpoint: BatchEndpoint, body: Record<string, unknown>): number {
  const { head, history } = promptPrefixOf(endpoint, body);
  return hashBits(head, 32) * HISTORY_RANGE + hashBits(history, HISTORY_BITS);
}

export function promptPrefixOf(
  endpoint: BatchEndpoint,
  body: Record<string, unknown>,
): PromptPrefix {
  const model = body.model;
  switch (endpoint) {
    case "/v1/chat/completions": {
      const messages = asArray(body.messages);
      const instructions = leadingInstructions(messages);
      return {
        head: [endpoint, model, body.tools ?? null, instructions],
        history: [
          body.prompt_cache_key ?? null,
          messages.slice(instructions.length, Math.max(instructions.length, messages.length - 1)),
        ],
      };
    }
    case "/v1/responses": {
      // A string input is one user message: the last message, so not part of any prefix.
      const items = asArray(body.input).map(withoutItemIdentity);
      const instructions = leadingInstructions(items);
      return {
        head: [
          endpoint,
          model,
          body.tools ?? null,
          body.instructions ?? null,
          body.prompt ?? null,
          instructions,
        ],
        history: [
          body.prompt_cache_key ?? null,
          body.previous_response_id ?? null,
          body.conversation ?? null,
          items.slice(instructions.length, Math.max(instructions.length, items.length - 1)),
        ],
      };
    }
    case "/v1/completions": {
      const prompt = firstPrompt(body.prompt);
      return {
        head: [endpoint, model, headOf(prompt, HEAD_CHARS)],
        history: [body.prompt_cache_key ?? null, headOf(prompt, HISTORY_CHARS)],
      };
    }
    case "/v1/embeddings":
      return { head: [endpoint, model], history: null };
  }
}

function asArray(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The leading run of system and developer messages (what templates render first). */
function leadingInstructions(messages: readonly unknown[]): unknown[] {
  const run: unknown[] = [];
  for (const message of messages) {
    const role = (message as { role?: unknown } | null)?.role;
    if (role !== "system" && role !== "developer") {
      break;
    }
    run.push(message);
  }
  return run;
}

/** Item ids and statuses never reach a model's prompt; two copies of one message are one prefix. */
function withoutItemIdentity(item: unknown): unknown {
  if (typeof item !== "object" || item === null || Array.isArray(item)) {
    return item;
  }
  const { id: _id, status: _status, ...rest } = item as Record<string, unknown>;
  return rest;
}

/** A text or token-id prompt; several prompts in one line: the first leads the cache. */
function firstPrompt(prompt: unknown): string | readonly number[] {
  if (typeof prompt === "string") {
    return prompt;
  }
  if (Array.isArray(prompt) && prompt.length > 0) {
    const [first] = prompt;
    if (typeof first === "string" || Array.isArray(first)) {
      return first as string | number[];
    }
    return prompt as number[];
  }
  return "";
}

function headOf(prompt: string | readonly number[], chars: number): string | readonly number[] {
  return typeof prompt === "string"
    ? prompt.slice(0, chars)
    : prompt.slice(0, Math.ceil(chars / CHARS_PER_TOKEN));
}

/** The top `bits` (at most 32) of the SHA-256 of the value's canonical encoding. */
function hashBits(value: unknown, bits: number): number {
  const hash = createHash("sha256");
  feedCanonical(hash, value);
  return hash.digest().readUInt32BE(0) >>> (32 - bits);
}

/**
 * Feeds the hash an unambiguous encoding of a JSON value, piece by piece, so no JSON text of a
 * long system prompt is built and escaped per line: strings as their length and their text,
 * objects with their keys sorted (a client's key order, `{content, role}` or `{role, content}`,
 * does not change what the model sees, so it must not change the rank), undefined fields left
 * out as JSON would.
 */
function feedCanonical(hash: Hash, value: unknown): void {
  if (typeof value === "string") {
    hash.update(`s${value.length}:`);
    hash.update(value);
  } else if (Array.isArray(value)) {
    hash.update(`a${value.length}[`);
    for (const item of value) {
      feedCanonical(hash, item);
    }
    hash.update("]");
  } else if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value)
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .sort();
    hash.update(`o${keys.length}{`);
    for (const key of keys) {
      feedCanonical(hash, key);
      feedCanonical(hash, (value as Record<string, unknown>)[key]);
    }
    hash.update("}");
  } else {
    // Numbers, booleans and null (a JSON value has nothing else).
    hash.update(`v${String(value)};`);
  }
}
