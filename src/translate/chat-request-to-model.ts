import type {
  FunctionTool,
  OutputFormat,
  Sampling,
  ToolChoice,
} from "../backends/model-contract.js";
import type { CreateChatCompletionRequest } from "../contract/chat-request.js";

/** The non-message parts of a Chat Completions request in the model contract. */

export interface ChatModelOptions {
  readonly tools: FunctionTool[];
  readonly toolChoice: ToolChoice;
  readonly parallelToolCalls: boolean;
  readonly outputFormat: OutputFormat;
  readonly sampling: Sampling;
}

export function chatModelOptions(request: CreateChatCompletionRequest): ChatModelOptions {
  const tools: FunctionTool[] = [];
  for (const tool of request.tools ?? []) {
    const fn = (tool.function ?? {}) as Record<string, unknown>;
    tools.push({
      type: "function",
      name: String(fn.name),
      description: typeof fn.description === "string" ? fn.description : null,
      parameters: isObject(fn.parameters) ? fn.parameters : null,
      strict: fn.strict === true,
    });
  }
  // The deprecated `functions` are tools without the wrapper.
  for (const fn of request.functions ?? []) {
    tools.push({
      type: "function",
      name: fn.name,
      description: typeof fn.description === "string" ? fn.description : null,
      parameters: isObject(fn.parameters) ? fn.parameters : null,
      strict: false,
    });
  }
  return {
    tools,
    toolChoice: chatToolChoice(request),
    parallelToolCalls: request.parallel_tool_calls ?? true,
    outputFormat: chatOutputFormat(request.response_format),
    sampling: {
      temperature: request.temperature ?? null,
      topP: request.top_p ?? null,
      seed: request.seed ?? null,
      stop: typeof request.stop === "string" ? [request.stop] : (request.stop ?? []),
      presencePenalty: request.presence_penalty ?? null,
      frequencyPenalty: request.frequency_penalty ?? null,
      logitBias: request.logit_bias ?? null,
      logprobs: request.logprobs === true,
      topLogprobs: request.top_logprobs ?? null,
    },
  };
}

function chatToolChoice(request: CreateChatCompletionRequest): ToolChoice {
  const choice = request.tool_choice ?? legacyFunctionChoice(request.function_call);
  if (choice === undefined || choice === "auto") {
    return { type: "auto" };
  }
  if (choice === "none" || choice === "required") {
    return { type: choice };
  }
  if (choice.type === "function") {
    const fn = choice.function as { name?: unknown } | undefined;
    return { type: "function", name: String(fn?.name) };
  }
  if (choice.type === "allowed_tools") {
    const allowed = (choice.allowed_tools ?? {}) as { mode?: unknown; tools?: unknown };
    const names = (Array.isArray(allowed.tools) ? allowed.tools : [])
      .filter((tool: Record<string, unknown>) => tool.type === "function")
      .map((tool: Record<string, unknown>) => String((tool.function as { name?: unknown })?.name));
    return { type: "allowed", mode: allowed.mode === "required" ? "required" : "auto", names };
  }
  return { type: "auto" };
}

function legacyFunctionChoice(
  choice: CreateChatCompletionRequest["function_call"],
): CreateChatCompletionRequest["tool_choice"] {
  if (choice === undefined || typeof choice === "string") {
    return choice;
  }
  return { type: "function", function: { name: choice.name } };
}

function chatOutputFormat(format: CreateChatCompletionRequest["response_format"]): OutputFormat {
  if (format === undefined || format.type === "text") {
    return { type: "text" };
  }
  if (format.type === "json_object") {
    return { type: "json_object" };
  }
  const spec = (format.json_schema ?? {}) as Record<string, unknown>;
  return {
    type: "json_schema",
    name: String(spec.name),
    schema: isObject(spec.schema) ? spec.schema : {},
    strict: spec.strict === true,
    description: typeof spec.description === "string" ? spec.description : null,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
