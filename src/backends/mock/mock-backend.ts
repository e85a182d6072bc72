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
} from "../backend.js";
import { textGeneration } from "../generation-events.js";
import { composeReply, replySeed } from "./compose-reply.js";
import { embedVector } from "./embed-vector.js";
import { createLruCache } from "./lru-cache.js";
import { mockErrorFor, readMockKnobs } from "./mock-knobs.js";
import {
  countChatTokens,
  countTextTokens,
  decodeTokenPieces,
  decodeTokens,
  encodeText,
} from "./tokenizer.js";

export interface MockBackendOptions {
  readonly name?: string;
  /** Wait before the first token, on every request. */
  readonly ttftMs: number;
  /** Pace of tokens; 0 = as fast as possible. */
  readonly tokensPerSecond: number;
}

/** A composed reply and its tokens; shared by cache hits, so never mutated. */
interface Reply {
  readonly text: string;
  readonly tokens: readonly number[];
}

// Bounds on the caches: entries, and the length of a key worth keeping (a long conversation is
// kept at most MAX_CACHED_KEY_CHARS * CACHE_ENTRIES characters, ~20 MB per cache at worst).
const CACHE_ENTRIES = 1000;
const MAX_CACHED_KEY_CHARS = 10_000;
// ~30 ms of vectors at 3,072 dimensions.
const EMBED_INPUTS_PER_SLICE = 64;

/**
 * The built-in backend: answers any model name, deterministically from the input, with usage
 * counted by a real tokenizer. Test knobs come from request metadata (see mock-knobs.ts).
 * Every wait is cut short by the request's abort signal.
 */
export function createMockBackend(options: MockBackendOptions): Backend {
  const name = options.name ?? "mock";
  const tokenDelayMs = options.tokensPerSecond > 0 ? 1000 / options.tokensPerSecond : 0;
  // Clients (and benchmarks) send the same conversations again and again; composing a reply and
  // running the BPE tokenizer over it is most of the mock's cost, so both are remembered.
  const replies = createLruCache<string, Reply>(CACHE_ENTRIES);
  const contentTokens = createLruCache<string, number>(CACHE_ENTRIES);

  function replyFor(request: GenerateRequest): Reply {
    const seed = replySeed(request.model, request.messages, request.choiceIndex);
    const cached = replies.get(seed);
    if (cached !== undefined) {
      return cached;
    }
    const text = composeReply(request.model, request.messages, request.choiceIndex);
    const reply = { text, tokens: encodeText(text) };
    if (seed.length <= MAX_CACHED_KEY_CHARS) {
      replies.set(seed, reply);
    }
    return reply;
  }

  function countContentTokens(content: string): number {
    const cached = contentTokens.get(content);
    if (cached !== undefined) {
      return cached;
    }
    const count = countTextTokens(content);
    if (content.length <= MAX_CACHED_KEY_CHARS) {
      contentTokens.set(content, count);
    }
    return count;
  }

  /** Everything about an answer except its pacing: the same for generate and streamGenerate. */
  async function prepare(request: GenerateRequest, signal: AbortSignal) {
    const knobs = readMockKnobs(request.metadata);
    await sleep(knobs.delayMs + options.ttftMs, signal);
    if (knobs.errorStatus !== null) {
      throw mockErrorFor(knobs.errorStatus);
    }
    const reply = replyFor(request);
    const isCut = request.maxOutputTokens !== null && reply.tokens.length > request.maxOutputTokens;
    const tokens = isCut ? reply.tokens.slice(0, request.maxOutputTokens ?? 0) : reply.tokens;
    return {
      // All of the reply's tokens decode to its text; only a cut reply needs decoding (null).
      text: isCut ? null : reply.text,
      tokens,
      finishReason: isCut ? ("length" as const) : ("stop" as const),
      usage: {
        inputTokens: countChatTokens(request.messages, countContentTokens),
        outputTokens: tokens.length,
        cachedInputTokens: 0,
        reasoningTokens: 0,
      },
    };
  }

  return {
    name,
    async generate(request, signal): Promise<Generation> {
      const prepared = await prepare(request, signal);
      await sleep(tokenDelayMs * prepared.tokens.length, signal);
      const text = prepared.text ?? decodeTokens(prepared.tokens);
      return textGeneration(text, prepared.finishReason, prepared.usage);
    },
    async *streamGenerate(request, signal): AsyncGenerator<GenerationEvent> {
      const prepared = await prepare(request, signal);
      yield { type: "item.start", index: 0, item: { type: "message" } };
      let text = "";
      for (const piece of decodeTokenPieces(prepared.tokens)) {
        await sleep(tokenDelayMs, signal);
        text += piece;
        yield { type: "text.delta", index: 0, text: piece };
      }
      yield {
        type: "done",
        generation: textGeneration(text, prepared.finishReason, prepared.usage),
      };
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

/** OpenAI's sizes: 3072 for text-embedding-3-large, 1536 for -3-small, ada-002 and the rest. */
export function nativeEmbeddingDimensions(model: string): number {
  return model.includes("embedding-3-large") ? 3072 : 1536;
}
