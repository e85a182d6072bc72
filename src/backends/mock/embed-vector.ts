import { createSeededRandom } from "./seeded-random.js";

/**
 * A deterministic unit vector for an input. The full-size vector is drawn first and then cut to
 * `dimensions` and renormalised, as OpenAI's text-embedding-3 models shorten theirs, so a shorter
 * embedding is a prefix (up to scale) of the full one.
 */
export function embedVector(
  model: string,
  input: string | readonly number[],
  nativeDimensions: number,
  dimensions: number,
): Float32Array {
  const seedInput = typeof input === "string" ? input : `tokens:${input.join(",")}`;
  const random = createSeededRandom(`${model}\u0000${seedInput}`);
  const full = new Float64Array(nativeDimensions);
  for (let i = 0; i < nativeDimensions; i++) {
    full[i] = random.normal();
  }
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    norm += (full[i] ?? 0) ** 2;
  }
  norm = Math.sqrt(norm) || 1;
  const vector = new Float32Array(dimensions);
  for (let i = 0; i < dimensions; i++) {
    vector[i] = (full[i] ?? 0) / norm;
  }
  return vector;
}
