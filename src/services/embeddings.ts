import type { Router } from "../backends/router.js";
import type { CreateEmbeddingRequest } from "../contract/embeddings-request.js";
import type { RetryPolicy } from "../executor/retry.js";
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

export function createEmbeddingsService(deps: { router: Router; retry: RetryPolicy }) {
  return {
    async create(
      request: CreateEmbeddingRequest,
      signal: AbortSignal,
      retry: RetryPolicy = deps.retry,
    ): Promise<EmbeddingList> {
      const resolved = resolveModel(deps.router, request.model);
      const inputs = normalizeEmbeddingInput(request.input);
      const result = await withRetries(
        () =>
          resolved.backend.embed(
            { model: resolved.upstreamModel, inputs, dimensions: request.dimensions ?? null },
            signal,
          ),
        retry,
        signal,
      );
      // The openai SDKs ask for base64 unless told otherwise and decode it as float32 LE.
      const encode =
        request.encoding_format === "base64"
          ? (vector: Float32Array) =>
              Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64")
          : (vector: Float32Array) => Array.from(vector);
      return {
        object: "list",
        data: result.vectors.map((vector, index) => ({
          object: "embedding",
          index,
          embedding: encode(vector),
        })),
        model: request.model,
        usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
      };
    },
  };
}

export type EmbeddingsService = ReturnType<typeof createEmbeddingsService>;

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
