import { createHash } from "node:crypto";
import { createLruCache } from "../../lib/lru-cache.js";
import { sleep } from "../../lib/sleep.js";
import { yieldToEventLoop } from "../../lib/yield-to-event-loop.js";
import {
  type Backend,
  BackendError,
  type EmbedRequest,
  type EmbedResult,
  type GenerateRequest,
  type Generation,
  type GenerationEvent,
  type OutputItem,
  type TokenUsage,
} from "../backend.js";
import type { FinishReason, TokenLogprob } from "../model-contract.js";
import { countInputTokens } from "./count-input-tokens.js";
import { embedVector } from "./embed-vector.js";
import { type MockKnobs, mockErrorFor, readMockKnobs } from "./mock-knobs.js";
import {
  answerKey,
  answerSeed,
  type PlannedAnswer,
  type PlannedItem,
  planAnswer,
} from "./plan-answer.js";
import { tokenLogprobs } from "./token-logprobs.js";
import { countTextTokens, decodeTokenPieces, decodeTokens } from "./tokenizer.js";

export interface MockBackendOptions {
  readonly name?: string;
  /** Wait before the first token, on every request. */
  readonly ttftMs: number;
  /** Pace of tokens; 0 = as fast as possible. */
  readonly tokensPerSecond: number;
}

// Bounds on the caches. A key longer than MAX_PLAIN_KEY_CHARS is replaced by its SHA-256, so a
// long conversation is still remembered, in 45 characters (the caches hold at most ~16 MB of
// keys each). Up to that length the key is used as it is: hashing it would cost more than the
// Map's own hashing, on every hit (a request with five tools and a 30-property schema is ~4 kB).
const CACHE_ENTRIES = 1000;
const MAX_PLAIN_KEY_CHARS = 8_000;
// ~30 ms of vectors at 3,072 dimensions.
const EMBED_INPUTS_PER_SLICE = 64;

function cacheKey(text: string): string {
  return text.length <= MAX_PLAIN_KEY_CHARS
    ? text
    : `#${createHash("sha256").update(text).digest("base64")}`;
}

interface CachedAnswer {
  readonly plan: PlannedAnswer;
  readonly inputTokens: number;
}

/** An item as sent: the planned one, or its start when the output limit cut it. */
interface SentItem {
  readonly planned: PlannedItem;
  readonly text: string;
  readonly tokenCount: number;
  readonly pieces: readonly string[];
  readonly logprobs: readonly TokenLogprob[] | null;
}

/**
 * The built-in backend: answers any model name, deterministically from the input, with usage
 * counted by a real tokenizer. It calls tools, writes JSON for a schema, reasons and refuses by
 * the rules in README's "The mock backend"; test knobs come from request metadata (see
 * mock-knobs.ts). Every wait is cut short by the request's abort signal.
 */
export function createMockBackend(options: MockBackendOptions): Backend {
  const name = options.name ?? "mock";
  const tokenDelayMs = options.tokensPerSecond > 0 ? 1000 / options.tokensPerSecond : 0;
  // Clients (and benchmarks) send the same requests again and again; planning an answer
  // (composing, sampling schemas, the BPE tokenizer) is most of the mock's cost, so plans and
  // token counts are remembered.
  const answers = createLruCache<string, CachedAnswer>(CACHE_ENTRIES);
  const textTokens = createLruCache<string, number>(CACHE_ENTRIES);

  function countText(text: string): number {
    const key = cacheKey(text);
    const cached = textTokens.get(key);
    if (cached !== undefined) {
      return cached;
    }
    const count = countTextTokens(text);
    textTokens.set(key, count);
    return count;
  }

  /**
   * The planned answer and the input token count, both functions of what `answerSeed` covers,
   * so one key serves both. The key (answerKey) stands for each interned schema by its id, so
   * a repeated request with tools and a schema is not serialised in full; the seed itself is
   * only made when the answer is planned.
   */
  function answerFor(request: GenerateRequest, knobs: MockKnobs): CachedAnswer {
    const key = cacheKey(answerKey(request, knobs));
    const cached = answers.get(key);
    if (cached !== undefined) {
      return cached;
    }
    const answer = {
      plan: planAnswer(request, knobs, answerSeed(request, knobs)),
      inputTokens: countInputTokens(request, countText),
    };
    answers.set(key, answer);
    return answer;
  }

  /** Everything about an answer except its pacing: the same for generate and streamGenerate. */
  async function prepare(request: GenerateRequest, signal: AbortSignal) {
    const knobs = readMockKnobs(request.metadata);
    await sleep(knobs.delayMs + options.ttftMs, signal);
    if (knobs.errorStatus !== null) {
      throw mockErrorFor(knobs.errorStatus);
    }
    const { plan, inputTokens } = answerFor(request, knobs);
    const { items, isCut } = limitOutput(plan, request.maxOutputTokens);
    const finishReason: FinishReason = isCut ? "length" : plan.isToolCall ? "tool_calls" : "stop";
    let outputTokens = 0;
    let reasoningTokens = 0;
    for (const item of items) {
      outputTokens += item.tokenCount;
      if (item.planned.start.type === "reasoning") {
        reasoningTokens += item.tokenCount;
      }
    }
    const usage: TokenUsage = { inputTokens, outputTokens, cachedInputTokens: 0, reasoningTokens };
    return { items, generation: toGeneration(items, finishReason, usage) };
  }

  return {
    name,
    async generate(request, signal): Promise<Generation> {
      const prepared = await prepare(request, signal);
      await sleep(tokenDelayMs * prepared.generation.usage.outputTokens, signal);
      return prepared.generation;
    },
    async *streamGenerate(request, signal): AsyncGenerator<GenerationEvent> {
      const prepared = await prepare(request, signal);
      for (const [index, item] of prepared.items.entries()) {
        yield { type: "item.start", index, item: item.planned.start };
        yield* streamItem(index, item, tokenDelayMs, signal);
      }
      yield { type: "done", generation: prepared.generation };
    },
    async embed(request: EmbedRequest, signal: AbortSignal): Promise<EmbedResult> {
      signal.throwIfAborted();
      const native = nativeEmbeddingDimensions(request.model);
      if (request.dimensions !== null) {
        if (request.model === "text-embedding-ada-002") {
          throw new BackendError("This model does not support specifying dimensions.", {
            status: 400,
            param: "dimensions",
          });
        }
        if (request.dimensions > native) {
          throw new BackendError(
            `Invalid 'dimensions': ${request.model} has ${native} dimensions; ask for ${native} or fewer.`,
            { status: 400, param: "dimensions" },
          );
        }
      }
      const dimensions = request.dimensions ?? native;
      let promptTokens = 0;
      const vectors: Float32Array[] = [];
      // 2,048 inputs of a 3,072-dimension model are 6 M normal draws and as many tokens as the
      // request allows: seconds of work, so done in slices, giving the event loop a turn (and
      // the caller's abort a chance) between them.
      for (const [index, input] of request.inputs.entries()) {
        if (index > 0 && index % EMBED_INPUTS_PER_SLICE === 0) {
          await yieldToEventLoop();
          signal.throwIfAborted();
        }
        promptTokens += typeof input === "string" ? countTextTokens(input) : input.length;
        vectors.push(embedVector(request.model, input, native, dimensions));
      }
      return { vectors, promptTokens };
    },
  };
}

/**
 * The items within `maxOutputTokens`, spent in output order (reasoning first, as a model
 * thinks before it writes): the item that crosses the limit is cut, later ones never start.
 */
function limitOutput(
  answer: PlannedAnswer,
  maxOutputTokens: number | null,
): { items: SentItem[]; isCut: boolean } {
  const items: SentItem[] = [];
  let budget = maxOutputTokens ?? Number.POSITIVE_INFINITY;
  for (const planned of answer.items) {
    if (planned.tokens.length <= budget) {
      budget -= planned.tokens.length;
      items.push({
        planned,
        text: planned.text,
        tokenCount: planned.tokens.length,
        pieces: planned.pieces,
        logprobs: planned.logprobs,
      });
      continue;
    }
    if (budget > 0 || items.length === 0) {
      const tokens = planned.tokens.slice(0, budget);
      const pieces = [...decodeTokenPieces(tokens)];
      items.push({
        planned,
        text: decodeTokens(tokens),
        tokenCount: tokens.length,
        pieces,
        // Drawn again for the cut pieces (the last may end mid-character); a piece's logprobs
        // depend only on its place and text, so the rest match the uncut answer's.
        logprobs:
          planned.logprobs === null ? null : tokenLogprobs(pieces, answer.seed, answer.topLogprobs),
      });
    }
    return { items, isCut: true };
  }
  return { items, isCut: false };
}

function toGeneration(
  items: readonly SentItem[],
  finishReason: FinishReason,
  usage: TokenUsage,
): Generation {
  return { items: items.map(toOutputItem), finishReason, usage };
}

function toOutputItem(item: SentItem): OutputItem {
  const start = item.planned.start;
  switch (start.type) {
    case "reasoning":
      return { type: "reasoning", text: item.text, summary: [], encryptedContent: null };
    case "function_call":
      return {
        type: "function_call",
        callId: start.callId,
        name: start.name,
        arguments: item.text,
      };
    case "native":
      return { type: "native", native: start.native };
    case "message":
      if (item.planned.part === "refusal") {
        return { type: "message", parts: [{ type: "refusal", refusal: item.text }] };
      }
      return {
        type: "message",
        parts: [
          item.logprobs === null
            ? { type: "text", text: item.text }
            : { type: "text", text: item.text, logprobs: item.logprobs },
        ],
      };
  }
}

/** An item's deltas, one per token, paced. */
async function* streamItem(
  index: number,
  item: SentItem,
  tokenDelayMs: number,
  signal: AbortSignal,
): AsyncGenerator<GenerationEvent> {
  const kind = item.planned.start.type;
  const isText = kind === "message" && item.planned.part === "text";
  // A message with no text still has its (empty) part, as in the whole generation.
  if (item.pieces.length === 0 && kind === "message") {
    yield isText
      ? { type: "text.delta", index, text: "", ...(item.logprobs === null ? {} : { logprobs: [] }) }
      : { type: "refusal.delta", index, text: "" };
    return;
  }
  for (const [pieceIndex, piece] of item.pieces.entries()) {
    await sleep(tokenDelayMs, signal);
    if (kind === "reasoning") {
      yield { type: "reasoning.delta", index, text: piece };
    } else if (kind === "function_call") {
      yield { type: "arguments.delta", index, text: piece };
    } else if (!isText) {
      yield { type: "refusal.delta", index, text: piece };
    } else {
      const logprob = item.logprobs?.[pieceIndex];
      yield {
        type: "text.delta",
        index,
        text: piece,
        ...(logprob === undefined ? {} : { logprobs: [logprob] }),
      };
    }
  }
}

/** OpenAI's sizes: 3072 for text-embedding-3-large, 1536 for -3-small, ada-002 and the rest. */
export function nativeEmbeddingDimensions(model: string): number {
  return model.includes("embedding-3-large") ? 3072 : 1536;
}
