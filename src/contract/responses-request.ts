import { z } from "zod";
import { internJsonObject } from "../lib/json-text.js";
import { CALLBACK_FIELDS } from "./callback-request.js";
import { MetadataSchema } from "./metadata.js";
import { ModelNameSchema } from "./model-name.js";
import { MAX_TOOLS } from "./tool-limits.js";

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
  // An assistant message echoed back from an earlier output (gpt-5 models mark its phase).
  phase: z.enum(["commentary", "final_answer"]).nullable().optional(),
});

// What a function may call with: OpenAI's tool caller ("direct", or from programmatic calling).
const CallerSchema = z.record(z.string(), z.unknown()).nullable().optional();

/** A function call, usually an earlier response's output item sent back with its id and status. */
const FunctionCallItemSchema = z.strictObject({
  type: z.literal("function_call"),
  id: z.string().optional(),
  call_id: z.string().min(1),
  name: z.string(),
  arguments: z.string(),
  namespace: z.string().optional(),
  caller: CallerSchema,
  status: ItemStatusSchema.optional(),
});

const FunctionOutputPartSchema = z.discriminatedUnion("type", [
  InputTextPartSchema,
  InputImagePartSchema,
  InputFilePartSchema,
]);

const FunctionCallOutputItemSchema = z.strictObject({
  type: z.literal("function_call_output"),
  id: z.string().nullable().optional(),
  call_id: z.string().min(1).max(64),
  output: z.union([z.string(), z.array(FunctionOutputPartSchema)]),
  name: z.string().nullable().optional(),
  namespace: z.string().nullable().optional(),
  caller: CallerSchema,
  status: ItemStatusSchema.nullable().optional(),
});

const TextEntrySchema = (type: string) =>
  z.looseObject({ type: z.literal(type), text: z.string() });

/**
 * A reasoning item echoed back from an earlier output: every field OpenAI's output item carries
 * (loose, so a field OpenAI adds later still round-trips).
 */
const ReasoningItemSchema = z.looseObject({
  type: z.literal("reasoning"),
  id: z.string().optional(),
  summary: z.array(TextEntrySchema("summary_text")).optional(),
  content: z.array(TextEntrySchema("reasoning_text")).nullable().optional(),
  encrypted_content: z.string().nullable().optional(),
  status: ItemStatusSchema.nullable().optional(),
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

export const FUNCTION_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
const FUNCTION_NAME_MESSAGE =
  "string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'";

// Schemas are interned: the same tool or format sent again is the same (frozen) object, which
// the schema checks, the mock and the store key their caches on (see json-text.ts).
const JsonSchemaObject = z
  .record(z.string(), z.unknown(), {
    error: "expected an object (a JSON Schema)",
  })
  .transform(internJsonObject);

/** A function the client runs; unknown keys are a 400, as OpenAI answers. */
const FunctionToolSchema = z.strictObject({
  type: z.literal("function"),
  name: z.string().regex(FUNCTION_NAME_PATTERN, FUNCTION_NAME_MESSAGE),
  description: z.string().nullable().optional(),
  parameters: JsonSchemaObject.nullable().optional(),
  strict: z.boolean().nullable().optional(),
  output_schema: JsonSchemaObject.nullable().optional(),
  defer_loading: z.boolean().optional(),
  allowed_callers: z.array(z.unknown()).nullable().optional(),
});

/**
 * The tools OpenAI runs itself (the spec's Tool union, less `function`). Only a native Responses
 * backend can take them (the service checks); their fields are the upstream's to judge.
 */
export const BUILT_IN_TOOL_TYPES = [
  "file_search",
  "computer",
  "computer_use_preview",
  "web_search",
  "web_search_2025_08_26",
  "web_search_preview",
  "web_search_preview_2025_03_11",
  "mcp",
  "code_interpreter",
  "programmatic_tool_calling",
  "image_generation",
  "local_shell",
  "shell",
  "custom",
  "namespace",
  "tool_search",
  "apply_patch",
] as const;

// The type is checked first so that a missing or unknown one gets its own message (a missing
// parameter; the supported values), not the union's.
const ToolSchema = z
  .looseObject({ type: z.string().pipe(z.enum(["function", ...BUILT_IN_TOOL_TYPES])) })
  .pipe(
    z.discriminatedUnion("type", [
      FunctionToolSchema,
      ...BUILT_IN_TOOL_TYPES.map((type) => z.looseObject({ type: z.literal(type) })),
    ]),
  );
export type Tool = z.infer<typeof ToolSchema>;

const ToolChoiceSchema = z.union([
  z.enum(["none", "auto", "required"]),
  z
    .looseObject({
      type: z.string().pipe(z.enum(["function", "allowed_tools", ...BUILT_IN_TOOL_TYPES])),
    })
    .pipe(
      z.discriminatedUnion("type", [
        z.strictObject({ type: z.literal("function"), name: z.string() }),
        z.strictObject({
          type: z.literal("allowed_tools"),
          mode: z.enum(["auto", "required"]),
          tools: z.array(z.looseObject({ type: z.string(), name: z.string().optional() })),
        }),
        // A built-in tool to use (hosted tools, mcp, custom, shell, apply_patch): native only.
        ...BUILT_IN_TOOL_TYPES.map((type) => z.looseObject({ type: z.literal(type) })),
      ]),
    ),
]);
export type ToolChoice = z.infer<typeof ToolChoiceSchema>;

/** The `include` values OpenAI knows (IncludeEnum in the spec). */
export const INCLUDE_VALUES = [
  "file_search_call.results",
  "web_search_call.results",
  "web_search_call.action.sources",
  "message.input_image.image_url",
  "computer_call_output.output.image_url",
  "code_interpreter_call.outputs",
  "reasoning.encrypted_content",
  "message.output_text.logprobs",
] as const;

const TextFormatSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({
    type: z.literal("json_schema"),
    name: z
      .string()
      .regex(/^[a-zA-Z0-9_-]{1,64}$/, "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -"),
    schema: z.record(z.string(), z.unknown()).transform(internJsonObject),
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
  tools: z.array(ToolSchema).max(MAX_TOOLS, `must have at most ${MAX_TOOLS} tools`).optional(),
  tool_choice: ToolChoiceSchema.optional(),
  text: TextConfigSchema.optional(),
  reasoning: ReasoningConfigSchema.nullable().optional(),
  include: z.array(z.enum(INCLUDE_VALUES)).nullable().optional(),
  prompt: z.looseObject({ id: z.string() }).nullable().optional(),
  context_management: z.array(z.record(z.string(), z.unknown())).nullable().optional(),
  moderation: z.unknown().optional(),
  // ferry's extension (background responses only): where to POST the finished Response.
  ...CALLBACK_FIELDS,
});

export type CreateResponseRequest = z.infer<typeof CreateResponseRequestSchema>;
