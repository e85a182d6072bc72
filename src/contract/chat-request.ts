import { z } from "zod";
import { MetadataSchema } from "./metadata.js";
import { ModelNameSchema } from "./model-name.js";

/**
 * `POST /v1/chat/completions` (CreateChatCompletionRequest in the official spec). All of OpenAI's
 * fields are accepted; an unknown one is a 400, as OpenAI answers.
 */

const TextPartSchema = z.strictObject({ type: z.literal("text"), text: z.string() });
const ImagePartSchema = z.strictObject({
  type: z.literal("image_url"),
  image_url: z.looseObject({ url: z.string(), detail: z.enum(["auto", "low", "high"]).optional() }),
});
const AudioPartSchema = z.strictObject({
  type: z.literal("input_audio"),
  input_audio: z.looseObject({ data: z.string(), format: z.string() }),
});
const FilePartSchema = z.strictObject({
  type: z.literal("file"),
  file: z.looseObject({
    file_data: z.string().optional(),
    file_id: z.string().optional(),
    filename: z.string().optional(),
  }),
});
const RefusalPartSchema = z.strictObject({ type: z.literal("refusal"), refusal: z.string() });

const UserContentSchema = z.union([
  z.string(),
  z.array(
    z.discriminatedUnion("type", [
      TextPartSchema,
      ImagePartSchema,
      AudioPartSchema,
      FilePartSchema,
    ]),
  ),
]);
const TextContentSchema = z.union([z.string(), z.array(TextPartSchema)]);

const ToolCallSchema = z.looseObject({
  id: z.string(),
  type: z.literal("function"),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

export const ChatMessageSchema = z.discriminatedUnion("role", [
  z.strictObject({
    role: z.literal("system"),
    content: TextContentSchema,
    name: z.string().optional(),
  }),
  z.strictObject({
    role: z.literal("developer"),
    content: TextContentSchema,
    name: z.string().optional(),
  }),
  z.strictObject({
    role: z.literal("user"),
    content: UserContentSchema,
    name: z.string().optional(),
  }),
  z.strictObject({
    role: z.literal("assistant"),
    content: z
      .union([
        z.string(),
        z.array(z.discriminatedUnion("type", [TextPartSchema, RefusalPartSchema])),
      ])
      .nullable()
      .optional(),
    refusal: z.string().nullable().optional(),
    name: z.string().optional(),
    tool_calls: z.array(ToolCallSchema).optional(),
    function_call: z.looseObject({ name: z.string(), arguments: z.string() }).nullable().optional(),
    audio: z.looseObject({ id: z.string() }).nullable().optional(),
  }),
  z.strictObject({ role: z.literal("tool"), content: TextContentSchema, tool_call_id: z.string() }),
  z.strictObject({ role: z.literal("function"), content: z.string().nullable(), name: z.string() }),
]);
export type ChatMessageInput = z.infer<typeof ChatMessageSchema>;

export const CreateChatCompletionRequestSchema = z.strictObject({
  model: ModelNameSchema,
  messages: z.array(ChatMessageSchema).min(1, "messages must contain at least one message"),
  max_tokens: z.number().int().min(1).nullable().optional(),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z
    .strictObject({
      include_usage: z.boolean().optional(),
      include_obfuscation: z.boolean().optional(),
    })
    .nullable()
    .optional(),
  stop: z
    .union([z.string(), z.array(z.string()).max(4)])
    .nullable()
    .optional(),
  metadata: MetadataSchema.nullable().optional(),
  store: z.boolean().nullable().optional(),
  user: z.string().optional(),
  safety_identifier: z.string().max(64).optional(),
  prompt_cache_key: z.string().optional(),
  prompt_cache_retention: z.enum(["in-memory", "in_memory", "24h"]).nullable().optional(),
  prompt_cache_options: z.record(z.string(), z.unknown()).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  response_format: z
    .looseObject({ type: z.enum(["text", "json_object", "json_schema"]) })
    .optional(),
  tools: z.array(z.looseObject({ type: z.string() })).optional(),
  tool_choice: z
    .union([z.enum(["none", "auto", "required"]), z.looseObject({ type: z.string() })])
    .optional(),
  parallel_tool_calls: z.boolean().optional(),
  functions: z.array(z.looseObject({ name: z.string() })).optional(),
  function_call: z
    .union([z.enum(["none", "auto"]), z.looseObject({ name: z.string() })])
    .optional(),
  service_tier: z.enum(["auto", "default", "flex", "scale", "priority"]).nullable().optional(),
  modalities: z
    .array(z.enum(["text", "audio"]))
    .nullable()
    .optional(),
  audio: z.looseObject({}).nullable().optional(),
  prediction: z.looseObject({ type: z.string() }).nullable().optional(),
  reasoning_effort: z
    .enum(["none", "minimal", "low", "medium", "high", "xhigh"])
    .nullable()
    .optional(),
  verbosity: z.enum(["low", "medium", "high"]).nullable().optional(),
  web_search_options: z.looseObject({}).optional(),
  moderation: z.unknown().optional(),
});

export type CreateChatCompletionRequest = z.infer<typeof CreateChatCompletionRequestSchema>;
