import { z } from "zod";
import { ModelNameSchema } from "./model-name.js";

/** `POST /v1/embeddings` (CreateEmbeddingRequest). OpenAI's limits: 2048 inputs per request. */
export const MAX_EMBEDDING_INPUTS = 2048;
/** OpenAI's other limits: 8,192 tokens per input, 300,000 summed over a request. */
export const MAX_EMBEDDING_INPUT_TOKENS = 8192;
export const MAX_EMBEDDING_REQUEST_TOKENS = 300_000;

const TokenArraySchema = z.array(z.number().int().min(0)).min(1, "a token array must not be empty");

export const CreateEmbeddingRequestSchema = z.strictObject({
  model: ModelNameSchema,
  input: z.union([
    z.string().min(1, "input must not be an empty string"),
    z.array(z.string().min(1, "input strings must not be empty")).min(1).max(MAX_EMBEDDING_INPUTS),
    TokenArraySchema,
    z.array(TokenArraySchema).min(1).max(MAX_EMBEDDING_INPUTS),
  ]),
  dimensions: z.number().int().min(1).optional(),
  encoding_format: z.enum(["float", "base64"]).optional(),
  user: z.string().optional(),
});

export type CreateEmbeddingRequest = z.infer<typeof CreateEmbeddingRequestSchema>;
