import { z } from "zod";
import { MetadataSchema } from "./metadata.js";
import { ModelNameSchema } from "./model-name.js";

/**
 * `POST /v1/responses` as OpenAI defines it (CreateResponse in the official spec). Every field
 * OpenAI accepts is accepted here; an unknown one is a 400 "Unknown parameter", as OpenAI answers.
 * Fields the mock cannot act on (tools, text formats, reasoning) are validated loosely and echoed
 * on the Response object.
 */

const InputTextPartSchema = z.strictObject({ type: z.literal("input_text"), text: z.string() });
const OutputTextPartSchema = z.looseObject({ type: z.literal("output_text"), text: z.string() });
const RefusalPartSchema = z.looseObject({ type: z.literal("refusal"), refusal: z.string() });
const InputImagePartSchema = z.looseObject({
  type: z.literal("input_image"),
  image_url: z.string().nullable().optional(),
  file_id: z.string().nullable().optional(),
  detail: z.enum(["low", "high", "auto", "original"]).optional(),
});
const InputFilePartSchema = z.looseObject({
  type: z.literal("input_file"),
  file_id: z.string().nullable().optional(),
  file_data: z.string().optional(),
  file_url: z.string().optional(),
  filename: z.string().optional(),
});

export const ContentPartSchema = z.discriminatedUnion("type", [
  InputTextPartSchema,
  OutputTextPartSchema,
  RefusalPartSchema,
  InputImagePartSchema,
  InputFilePartSchema,
]);
export type ContentPart = z.infer<typeof ContentPartSchema>;

const ItemStatusSchema = z.enum(["in_progress", "completed", "incomplete"]);

export const MessageItemSchema = z.strictObject({
  type: z.literal("message"),
  id: z.string().optional(),
  role: z.enum(["user", "system", "developer", "assistant"]),
  content: z.union([z.string(), z.array(ContentPartSchema)]),
  status: ItemStatusSchema.optional(),
});

const FunctionCallItemSchema = z.strictObject({
  type: z.literal("function_call"),
  id: z.string().optional(),
  call_id: z.string(),
  name: z.string(),
  arguments: z.string(),
  status: ItemStatusSchema.optional(),
});

const FunctionCallOutputItemSchema = z.strictObject({
  type: z.literal("function_call_output"),
  id: z.string().nullable().optional(),
  call_id: z.string(),
  output: z.union([z.string(), z.array(ContentPartSchema)]),
  status: ItemStatusSchema.nullable().optional(),
});

const ReasoningItemSchema = z.looseObject({
  type: z.literal("reasoning"),
  id: z.string().optional(),
});

const ItemReferenceSchema = z.strictObject({
  type: z.literal("item_reference"),
  id: z.string(),
});

// The "easy" message form `{role, content}` has no `type`; it means a message.
function defaultItemType(value: unknown): unknown {
  if (typeof value === "object" && value !== null && !Array.isArray(value) && !("type" in value)) {
    return { ...value, type: "message" };
  }
  return value;
}

export const InputItemSchema = z.preprocess(
  defaultItemType,
  z.discriminatedUnion("type", [
    MessageItemSchema,
    FunctionCallItemSchema,
    FunctionCallOutputItemSchema,
    ReasoningItemSchema,
    ItemReferenceSchema,
  ]),
);
export type InputItem = z.infer<typeof InputItemSchema>;

const ToolSchema = z.looseObject({ type: z.string() });

const ToolChoiceSchema = z.union([
  z.enum(["none", "auto", "required"]),
  z.looseObject({ type: z.string() }),
]);

const TextFormatSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({
    type: z.literal("json_schema"),
    name: z
      .string()
      .regex(/^[a-zA-Z0-9_-]{1,64}$/, "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -"),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().optional(),
    strict: z.boolean().nullable().optional(),
  }),
]);

const TextConfigSchema = z.strictObject({
  format: TextFormatSchema.optional(),
  verbosity: z.enum(["low", "medium", "high"]).nullable().optional(),
});

const ReasoningConfigSchema = z.strictObject({
  effort: z.enum(["none", "minimal", "low", "medium", "high", "xhigh"]).nullable().optional(),
  summary: z.enum(["auto", "concise", "detailed"]).nullable().optional(),
  generate_summary: z.enum(["auto", "concise", "detailed"]).nullable().optional(),
});

export const CreateResponseRequestSchema = z.strictObject({
  model: ModelNameSchema,
  input: z.union([z.string(), z.array(InputItemSchema)]).optional(),
  instructions: z.string().nullable().optional(),
  max_output_tokens: z.number().int().min(16).nullable().optional(),
  max_tool_calls: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  metadata: MetadataSchema.nullable().optional(),
  store: z.boolean().nullable().optional(),
  background: z.boolean().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z
    .strictObject({ include_obfuscation: z.boolean().optional() })
    .nullable()
    .optional(),
  previous_response_id: z.string().min(1).nullable().optional(),
  conversation: z
    .union([z.string(), z.looseObject({ id: z.string() })])
    .nullable()
    .optional(),
  user: z.string().optional(),
  safety_identifier: z.string().max(64).optional(),
  prompt_cache_key: z.string().optional(),
  prompt_cache_retention: z.enum(["in-memory", "in_memory", "24h"]).nullable().optional(),
  prompt_cache_options: z.record(z.string(), z.unknown()).nullable().optional(),
  service_tier: z.enum(["auto", "default", "flex", "scale", "priority"]).nullable().optional(),
  truncation: z.enum(["auto", "disabled"]).nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  tools: z.array(ToolSchema).optional(),
  tool_choice: ToolChoiceSchema.optional(),
  text: TextConfigSchema.optional(),
  reasoning: ReasoningConfigSchema.nullable().optional(),
  include: z.array(z.string()).nullable().optional(),
  prompt: z.looseObject({ id: z.string() }).nullable().optional(),
  context_management: z.array(z.record(z.string(), z.unknown())).nullable().optional(),
  moderation: z.unknown().optional(),
});

export type CreateResponseRequest = z.infer<typeof CreateResponseRequestSchema>;
