import type {
  FunctionTool,
  OutputFormat,
  Sampling,
  ToolChoice,
} from "../backends/model-contract.js";
import type {
  ChatResponseFormat,
  ChatToolChoice,
  CreateChatCompletionRequest,
} from "../contract/chat-request.js";

/**
 * The non-message parts of a Chat Completions request in the model contract. The request is
 * assumed to have passed `assertChatRequestUsable` (no custom tools, names that exist).
 */

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
    if (tool.type === "function") {
      tools.push({
        type: "function",
        name: tool.function.name,
        description: tool.function.description ?? null,
        parameters: tool.function.parameters ?? null,
        strict: tool.function.strict === true,
      });
    }
  }
  // The deprecated `functions` are tools without the wrapper (and never strict).
  for (const fn of request.functions ?? []) {
    tools.push({
      type: "function",
      name: fn.name,
      description: fn.description ?? null,
      parameters: fn.parameters ?? null,
      strict: false,
    });
  }
  return {
    tools,
    toolChoice: usesLegacyFunctions(request)
      ? legacyFunctionChoice(request.function_call)
      : chatToolChoice(request.tool_choice),
    // A legacy function_call is one call by definition.
    parallelToolCalls: usesLegacyFunctions(request) ? false : (request.parallel_tool_calls ?? true),
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
      topLogprobs: request.logprobs === true ? (request.top_logprobs ?? null) : null,
    },
  };
}

/**
 * A request in the deprecated `functions` style: OpenAI then answers in that style too
 * (`message.function_call`, finish_reason `function_call`).
 */
export function usesLegacyFunctions(request: CreateChatCompletionRequest): boolean {
  return (request.functions?.length ?? 0) > 0 && (request.tools?.length ?? 0) === 0;
}

function chatToolChoice(choice: ChatToolChoice | undefined): ToolChoice {
  if (choice === undefined || choice === "auto") {
    return { type: "auto" };
  }
  if (choice === "none" || choice === "required") {
    return { type: choice };
  }
  switch (choice.type) {
    case "function":
      return { type: "function", name: choice.function.name };
    case "allowed_tools":
      return {
        type: "allowed",
        mode: choice.allowed_tools.mode,
        names: choice.allowed_tools.tools.flatMap((tool) =>
          tool.type === "function" ? [tool.function.name] : [],
        ),
      };
    case "custom":
      // Refused by assertChatRequestUsable; never reaches here.
      return { type: "function", name: choice.custom.name };
  }
}

function legacyFunctionChoice(choice: CreateChatCompletionRequest["function_call"]): ToolChoice {
  if (choice === undefined || choice === "auto") {
    return { type: "auto" };
  }
  if (choice === "none") {
    return { type: "none" };
  }
  return { type: "function", name: choice.name };
}

function chatOutputFormat(format: ChatResponseFormat | undefined): OutputFormat {
  if (format === undefined || format.type === "text") {
    return { type: "text" };
  }
  if (format.type === "json_object") {
    return { type: "json_object" };
  }
  const spec = format.json_schema;
  return {
    type: "json_schema",
    name: spec.name,
    schema: spec.schema ?? {},
    strict: spec.strict === true,
    description: spec.description ?? null,
  };
}
