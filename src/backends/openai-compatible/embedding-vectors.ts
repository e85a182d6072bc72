import type { z } from "zod";
import type { UpstreamContext } from "./upstream-error.js";
import { badAnswer } from "./upstream-error.js";
import type { EmbeddingListSchema } from "./wire-schemas.js";

export const NOT_EMBEDDINGS = "an OpenAI embedding list";

/**
 * One vector per input, in input order (`data[i].index`, which servers may list in any order),
 * or a 502 when the answer does not cover every input exactly once.
 */
export function toEmbeddingVectors(
  answer: z.infer<typeof EmbeddingListSchema>,
  inputCount: number,
  context: UpstreamContext,
): Float32Array[] {
  if (answer.data.length !== inputCount) {
    const detail = `${answer.data.length} embeddings for ${inputCount} inputs`;
    throw badAnswer(context, NOT_EMBEDDINGS, detail);
  }
  const vectors: Float32Array[] = [];
  for (const [position, item] of answer.data.entries()) {
    // Servers that leave `index` out list the embeddings in input order.
    const index = item.index ?? position;
    if (index >= inputCount || vectors[index] !== undefined) {
      throw badAnswer(context, NOT_EMBEDDINGS, `data[${position}] has index ${index}`);
    }
    const vector =
      typeof item.embedding === "string"
        ? decodeFloat32Base64(item.embedding)
        : Float32Array.from(item.embedding);
    if (vector === null) {
      const detail = `data[${position}].embedding is not base64 of float32s`;
      throw badAnswer(context, NOT_EMBEDDINGS, detail);
    }
    vectors[index] = vector;
  }
  return vectors;
}

/** OpenAI's base64 embedding: the bytes of little-endian float32s. Null when it is not that. */
export function decodeFloat32Base64(text: string): Float32Array | null {
  const bytes = Buffer.from(text, "base64");
  if (bytes.byteLength % 4 !== 0) {
    return null;
  }
  // A DataView reads little-endian whatever the host's byte order, and needs no alignment.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vector = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < vector.length; i += 1) {
    vector[i] = view.getFloat32(i * 4, true);
  }
  return vector;
}
