import type {
  FunctionTool,
  OutputFormat,
  ReasoningEffort,
  Sampling,
  ToolChoice,
} from "../backends/model-contract.js";
import { DEFAULT_SAMPLING } from "../backends/model-contract.js";
import type { CreateResponseRequest } from "../contract/responses-request.js";

/**
 * The non-message parts of a Responses request in the model contract: tools, tool choice, the
 * output format, sampling. Built-in tools (web_search, file_search, …) are returned apart:
 * only a native Responses backend can run them, so the service decides what to do with them.
 */

export interface ResponsesModelOptions {
  readonly tools: FunctionTool[];
  readonly builtInTools: Record<string, unknown>[];
  readonly toolChoice: ToolChoice;
  readonly parallelToolCalls: boolean;
  readonly outputFormat: OutputFormat;
  readonly sampling: Sampling;
  readonly reasoningEffort: ReasoningEffort | null;
  readonly user: string | null;
}

export const LOGPROBS_INCLUDE = "message.output_text.logprobs";

export function responsesModelOptions(request: CreateResponseRequest): ResponsesModelOptions {
  const tools: FunctionTool[] = [];
  const builtInTools: Record<string, unknown>[] = [];
  for (const tool of request.tools ?? []) {
    if (tool.type === "function") {
      tools.push({
        type: "function",
        name: String(tool.name),
        description: typeof tool.description === "string" ? tool.description : null,
        parameters: isObject(tool.parameters) ? tool.parameters : null,
        // The Responses API makes function tools strict unless told otherwise.
        strict: tool.strict !== false,
      });
    } else {
      builtInTools.push(tool);
    }
  }
  return {
    tools,
    builtInTools,
    toolChoice: responsesToolChoice(request.tool_choice),
    parallelToolCalls: request.parallel_tool_calls ?? true,
    outputFormat: responsesOutputFormat(request.text?.format),
    sampling: {
      ...DEFAULT_SAMPLING,
      temperature: request.temperature ?? null,
      topP: request.top_p ?? null,
      logprobs: (request.include ?? []).includes(LOGPROBS_INCLUDE),
      topLogprobs: request.top_logprobs ?? null,
    },
    reasoningEffort: request.reasoning?.effort ?? null,
    user: request.safety_identifier ?? request.user ?? null,
  };
}

function responsesToolChoice(choice: CreateResponseRequest["tool_choice"]): ToolChoice {
  if (choice === undefined || choice === "auto") {
    return { type: "auto" };
  }
  if (choice === "none" || choice === "required") {
    return { type: choice };
  }
  if (choice.type === "function" && typeof choice.name === "string") {
    return { type: "function", name: choice.name };
  }
  if (choice.type === "allowed_tools") {
    const names = (Array.isArray(choice.tools) ? choice.tools : [])
      .filter((tool: Record<string, unknown>) => tool.type === "function")
      .map((tool: Record<string, unknown>) => String(tool.name));
    return { type: "allowed", mode: choice.mode === "required" ? "required" : "auto", names };
  }
  // A built-in tool choice ({type: "web_search_preview"}, …): the backend that has the tool
  // reads it from the native body; for a function backend it is "use a tool".
  return { type: "required" };
}

function responsesOutputFormat(
  format: NonNullable<CreateResponseRequest["text"]>["format"],
): OutputFormat {
  if (format === undefined || format.type === "text") {
    return { type: "text" };
  }
  if (format.type === "json_object") {
    return { type: "json_object" };
  }
  return {
    type: "json_schema",
    name: format.name,
    schema: format.schema,
    strict: format.strict === true,
    description: format.description ?? null,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
