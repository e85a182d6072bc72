import { z } from "zod";
import { MetadataSchema } from "./metadata.js";
import { ModelNameSchema } from "./model-name.js";
import { MAX_TOOLS } from "./tool-limits.js";

/**
 * `POST /v1/chat/completions` (CreateChatCompletionRequest in the official spec). All of OpenAI's
 * fields are accepted; an unknown one is a 400, as OpenAI answers.
 */

/**
 * Content parts ignore keys they do not define, as OpenAI does: clients echo a response's
 * message back as history, and `@openai/agents` spreads a message's other fields (`role`,
 * `refusal`, `annotations`) into each of its parts.
 */
const TextPartSchema = z.object({ type: z.literal("text"), text: z.string() });
const ImagePartSchema = z.object({
  type: z.literal("image_url"),
  image_url: z.looseObject({ url: z.string(), detail: z.enum(["auto", "low", "high"]).optional() }),
});
const AudioPartSchema = z.object({
  type: z.literal("input_audio"),
  input_audio: z.looseObject({ data: z.string(), format: z.string() }),
});
const FilePartSchema = z.object({
  type: z.literal("file"),
  file: z.looseObject({
    file_data: z.string().optional(),
    file_id: z.string().optional(),
    filename: z.string().optional(),
  }),
});
const RefusalPartSchema = z.object({ type: z.literal("refusal"), refusal: z.string() });

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

/** A call in an assistant history message; `custom` calls parse so the service can name them. */
const ToolCallSchema = z.discriminatedUnion("type", [
  z.object({
    id: z.string(),
    type: z.literal("function"),
    function: z.object({ name: z.string(), arguments: z.string() }),
  }),
  z.object({
    id: z.string(),
    type: z.literal("custom"),
    custom: z.looseObject({ name: z.string(), input: z.string() }),
  }),
]);

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
    tool_calls: z.array(ToolCallSchema).nullable().optional(),
    function_call: z.object({ name: z.string(), arguments: z.string() }).nullable().optional(),
    audio: z.looseObject({ id: z.string() }).nullable().optional(),
    // Not request fields in the spec, but on every response message, which clients append to
    // their history as it came; OpenAI takes them back.
    annotations: z.array(z.unknown()).nullable().optional(),
  }),
  z.strictObject({
    role: z.literal("tool"),
    content: TextContentSchema,
    tool_call_id: z.string(),
    // Not in the spec, but LangChain sends the function's name with each tool result and
    // OpenAI takes it.
    name: z.string().optional(),
  }),
  z.strictObject({ role: z.literal("function"), content: z.string().nullable(), name: z.string() }),
]);
export type ChatMessageInput = z.infer<typeof ChatMessageSchema>;

/** JSON Schema documents are checked by the service (schema-rules), not here. */
const JsonSchemaObjectSchema = z.record(z.string(), z.unknown());

// Strict, so a misspelt key (`paramters`) is a 400 rather than a function taking anything.
const FunctionDefinitionSchema = z.strictObject({
  name: z.string(),
  description: z.string().nullable().optional(),
  parameters: JsonSchemaObjectSchema.nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

export const ChatToolSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("function"), function: FunctionDefinitionSchema }),
  // Parsed so that the service can say ferry does not run them, rather than "invalid value".
  z.object({ type: z.literal("custom"), custom: z.looseObject({ name: z.string() }) }),
]);
export type ChatTool = z.infer<typeof ChatToolSchema>;

const NamedToolSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
  z.object({ type: z.literal("custom"), custom: z.object({ name: z.string() }) }),
]);

export const ChatToolChoiceSchema = z.union([
  z.enum(["none", "auto", "required"]),
  z.discriminatedUnion("type", [
    z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
    z.object({ type: z.literal("custom"), custom: z.object({ name: z.string() }) }),
    z.object({
      type: z.literal("allowed_tools"),
      allowed_tools: z.object({
        mode: z.enum(["auto", "required"]),
        tools: z.array(NamedToolSchema),
      }),
    }),
  ]),
]);
export type ChatToolChoice = z.infer<typeof ChatToolChoiceSchema>;

export const ChatResponseFormatSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({
    type: z.literal("json_schema"),
    json_schema: z.strictObject({
      name: z
        .string()
        .regex(
          /^[a-zA-Z0-9_-]{1,64}$/,
          "the name must be 1 to 64 letters, digits, underscores or dashes",
        ),
      description: z.string().optional(),
      schema: JsonSchemaObjectSchema.optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);
export type ChatResponseFormat = z.infer<typeof ChatResponseFormatSchema>;

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
  response_format: ChatResponseFormatSchema.optional(),
  tools: z.array(ChatToolSchema).max(MAX_TOOLS, `must have at most ${MAX_TOOLS} tools`).optional(),
  tool_choice: ChatToolChoiceSchema.optional(),
  parallel_tool_calls: z.boolean().optional(),
  functions: z
    .array(
      z.object({
        name: z.string(),
        description: z.string().optional(),
        parameters: JsonSchemaObjectSchema.optional(),
      }),
    )
    .optional(),
  function_call: z.union([z.enum(["none", "auto"]), z.object({ name: z.string() })]).optional(),
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
