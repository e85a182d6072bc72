import { z } from "zod";
import { CALLBACK_FIELDS } from "./callback-request.js";
import { CreateChatCompletionRequestSchema } from "./chat-request.js";
import { CreateCompletionRequestSchema } from "./completions-request.js";
import { CreateEmbeddingRequestSchema } from "./embeddings-request.js";
import { MetadataSchema } from "./metadata.js";
import { CreateResponseRequestSchema } from "./responses-request.js";

/** The endpoints a batch can run, each with the schema its request bodies must pass. */
export const BATCH_ENDPOINTS = {
  "/v1/responses": CreateResponseRequestSchema,
  "/v1/chat/completions": CreateChatCompletionRequestSchema,
  "/v1/embeddings": CreateEmbeddingRequestSchema,
  "/v1/completions": CreateCompletionRequestSchema,
} as const;

export type BatchEndpoint = keyof typeof BATCH_ENDPOINTS;
export const BatchEndpointSchema = z.enum(
  Object.keys(BATCH_ENDPOINTS) as [BatchEndpoint, ...BatchEndpoint[]],
);

/** OpenAI's limits on one batch: 50,000 requests and a 200 MB input file. */
export const MAX_BATCH_LINES = 50_000;
export const MAX_BATCH_INPUT_BYTES = 200 * 1024 * 1024;

export const CompletionWindowSchema = z.enum(["24h", "1h"]);

/** A request given inline (the native API): the body of one batch line. */
export const InlineBatchRequestSchema = z.strictObject({
  custom_id: z.string().min(1).max(512).optional(),
  method: z.literal("POST").optional(),
  url: BatchEndpointSchema.optional(),
  body: z.record(z.string(), z.unknown()),
});

/**
 * `POST /v1/batches` as JSON: OpenAI's form (`input_file_id`, `endpoint`, `completion_window`)
 * or the native one (`requests` inline, `window`). Exactly one of `input_file_id` and
 * `requests`; a batch without an `endpoint` takes it from its requests.
 */
export const CreateBatchRequestSchema = z
  .strictObject({
    input_file_id: z.string().min(1).optional(),
    requests: z.array(InlineBatchRequestSchema).min(1).max(MAX_BATCH_LINES).optional(),
    endpoint: BatchEndpointSchema.optional(),
    completion_window: CompletionWindowSchema.optional(),
    window: CompletionWindowSchema.optional(),
    metadata: MetadataSchema.nullable().optional(),
    output_expires_after: z
      .strictObject({
        anchor: z.literal("created_at"),
        seconds: z.number().int().min(3600).max(2_592_000),
      })
      .optional(),
    // ferry's extension: where to POST the finished Batch.
    ...CALLBACK_FIELDS,
  })
  .superRefine((request, ctx) => {
    if ((request.input_file_id === undefined) === (request.requests === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["input_file_id"],
        message:
          "give exactly one of 'input_file_id' (an uploaded JSONL file) and 'requests' (inline requests)",
      });
    }
    if (request.input_file_id !== undefined && request.endpoint === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["endpoint"],
        message: "Missing required parameter: 'endpoint'",
      });
    }
  });

export type CreateBatchRequest = z.infer<typeof CreateBatchRequestSchema>;

/** One line of a batch input file, as OpenAI defines it. */
export const BatchInputLineSchema = z.looseObject({
  custom_id: z.string().min(1, "custom_id must not be empty").max(512),
  method: z.string(),
  url: z.string(),
  body: z.record(z.string(), z.unknown()),
});
