import type { Router } from "../backends/router.js";
import type { CreateEmbeddingRequest } from "../contract/embeddings-request.js";
import type { RetryPolicy } from "../executor/retry.js";
import { yieldToEventLoop } from "../lib/yield-to-event-loop.js";
import type { CallOptions } from "./call-options.js";
import { assertEmbeddingLimits } from "./embedding-limits.js";
import { resolveModel } from "./models.js";
import { withRetries } from "./with-retries.js";

export interface EmbeddingObject {
  object: "embedding";
  index: number;
  /** float32 values, or their little-endian bytes in base64 when `encoding_format` is base64. */
  embedding: number[] | string;
}

export interface EmbeddingList {
  object: "list";
  data: EmbeddingObject[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** The answer before it is encoded: the vectors, ready to serialise a slice at a time. */
export interface EmbeddingAnswer {
  readonly model: string;
  readonly encodingFormat: "float" | "base64";
  readonly vectors: readonly Float32Array[];
  readonly promptTokens: number;
}

// Embeddings encoded between yields to the event loop: 64 vectors of 3,072 floats are ~4 MB of
// JSON, a few tens of ms. A whole answer can be 2,048 of them, 135 MB and seconds of work.
const VECTORS_PER_SLICE = 64;

export function createEmbeddingsService(deps: { router: Router; retry: RetryPolicy }) {
  /** The model's route and the inputs, once OpenAI's limits are checked. */
  async function prepare(request: CreateEmbeddingRequest) {
    const resolved = resolveModel(deps.router, request.model);
    const inputs = normalizeEmbeddingInput(request.input);
    await assertEmbeddingLimits(inputs);
    return { resolved, inputs };
  }

  /** Checks OpenAI's limits, then embeds every input; nothing is encoded yet. */
  async function answer(
    request: CreateEmbeddingRequest,
    signal: AbortSignal,
    options: CallOptions = {},
  ): Promise<EmbeddingAnswer> {
    const { resolved, inputs } = await prepare(request);
    const result = await withRetries(
      () =>
        resolved.backend.embed(
          { model: resolved.upstreamModel, inputs, dimensions: request.dimensions ?? null },
          signal,
          options,
        ),
      options.retry ?? deps.retry,
      signal,
    );
    return {
      model: request.model,
      encodingFormat: request.encoding_format ?? "float",
      vectors: result.vectors,
      promptTokens: result.promptTokens,
    };
  }

  return {
    answer,

    /**
     * Runs every check answer() makes before its backend call (a bad request throws its 4xx
     * here) and names the backend that would answer: for work queued now and run later.
     */
    async backendFor(request: CreateEmbeddingRequest): Promise<string> {
      return (await prepare(request)).resolved.backend.name;
    },

    /** The whole list as one object (for batch lines); see serializeEmbeddingList for HTTP. */
    async create(
      request: CreateEmbeddingRequest,
      signal: AbortSignal,
      options: CallOptions = {},
    ): Promise<EmbeddingList> {
      const answered = await answer(request, signal, options);
      const encode = encoderFor(answered.encodingFormat);
      const data: EmbeddingObject[] = [];
      for (const [index, vector] of answered.vectors.entries()) {
        if (index > 0 && index % VECTORS_PER_SLICE === 0) {
          await yieldToEventLoop();
        }
        data.push({ object: "embedding", index, embedding: encode(vector) });
      }
      return { object: "list", data, model: answered.model, usage: usageOf(answered) };
    },
  };
}

export type EmbeddingsService = ReturnType<typeof createEmbeddingsService>;

/**
 * The JSON text of the EmbeddingList, in slices, yielding to the event loop between them: the
 * same bytes as JSON.stringify of the list, but never one string of the whole (135 MB for 2,048
 * large vectors) and never one synchronous block of seconds.
 */
export async function* serializeEmbeddingList(answered: EmbeddingAnswer): AsyncGenerator<string> {
  const encode = encoderFor(answered.encodingFormat);
  const { vectors } = answered;
  yield '{"object":"list","data":[';
  for (let start = 0; start < vectors.length; start += VECTORS_PER_SLICE) {
    if (start > 0) {
      await yieldToEventLoop();
    }
    const parts: string[] = [];
    const end = Math.min(vectors.length, start + VECTORS_PER_SLICE);
    for (let index = start; index < end; index++) {
      const vector = vectors[index] ?? new Float32Array(0);
      const item: EmbeddingObject = { object: "embedding", index, embedding: encode(vector) };
      parts.push(JSON.stringify(item));
    }
    yield (start > 0 ? "," : "") + parts.join(",");
  }
  yield `],"model":${JSON.stringify(answered.model)},"usage":${JSON.stringify(usageOf(answered))}}`;
}

function usageOf(answered: EmbeddingAnswer): EmbeddingList["usage"] {
  return { prompt_tokens: answered.promptTokens, total_tokens: answered.promptTokens };
}

/** The openai SDKs ask for base64 unless told otherwise and decode it as float32 LE. */
function encoderFor(format: "float" | "base64"): (vector: Float32Array) => number[] | string {
  return format === "base64"
    ? (vector) =>
        Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64")
    : (vector) => Array.from(vector);
}

/** One string, many strings, one token array or many: always a list of inputs. */
function normalizeEmbeddingInput(input: CreateEmbeddingRequest["input"]): (string | number[])[] {
  if (typeof input === "string") {
    return [input];
  }
  if (input.every((item): item is number => typeof item === "number")) {
    return [input];
  }
  return input as (string | number[])[];
}
