import type { CreateResponseRequest } from "../contract/responses-request.js";
import { ApiError } from "../lib/api-error.js";

/**
 * What a Responses request must satisfy beyond its shape (the zod schema), before it runs:
 * tool names unique, `tool_choice` naming a tool that exists, built-in tools only where the
 * backend can run them, image sources ferry can pass on. Each failure is the 400 OpenAI would
 * give (or, where OpenAI has none, one that says what to change), naming the field in `param`.
 */

/**
 * Tools and tool choice. `native`: the model's backend speaks the Responses API itself and runs
 * built-in tools (web_search, mcp, …); otherwise only function tools can be served.
 */
export function assertToolsUsable(
  request: CreateResponseRequest,
  backend: { readonly native: boolean; readonly model: string },
): void {
  const tools = request.tools ?? [];
  const functionNames = new Map<string, number>();
  for (const [index, tool] of tools.entries()) {
    if (tool.type !== "function") {
      if (!backend.native) {
        throw ApiError.invalid(
          `tools[${index}]`,
          `The '${tool.type}' tool (tools[${index}]) cannot be used with model '${backend.model}': ` +
            "ferry's backend for this model runs function tools only (type 'function'), and " +
            `'${tool.type}' is a tool OpenAI runs itself. Remove it, or route the model to a native ` +
            "Responses upstream (type 'openai-responses') that provides it.",
          "unsupported_value",
        );
      }
      continue;
    }
    const earlier = functionNames.get(tool.name);
    if (earlier !== undefined) {
      throw ApiError.invalid(
        `tools[${index}].name`,
        `Duplicate tool name '${tool.name}' in 'tools' (tools[${earlier}] and tools[${index}]): ` +
          "each function tool needs a unique name.",
      );
    }
    functionNames.set(tool.name, index);
  }
  assertToolChoiceUsable(request.tool_choice, functionNames, backend);
}

function assertToolChoiceUsable(
  choice: CreateResponseRequest["tool_choice"],
  functionNames: ReadonlyMap<string, number>,
  backend: { readonly native: boolean; readonly model: string },
): void {
  if (choice === undefined || typeof choice === "string") {
    return;
  }
  if (choice.type === "function") {
    if (!functionNames.has(choice.name)) {
      // OpenAI's message, word for word.
      throw ApiError.invalid(
        "tool_choice",
        "Tool choice 'function' not found in 'tools' parameter.",
        "invalid_value",
      );
    }
    return;
  }
  if (choice.type === "allowed_tools") {
    for (const [index, allowed] of choice.tools.entries()) {
      const param = `tool_choice.tools[${index}]`;
      if (allowed.type !== "function") {
        if (!backend.native) {
          throw ApiError.invalid(
            param,
            `The allowed tool '${allowed.type}' cannot be used with model '${backend.model}': ` +
              "ferry's backend for this model runs function tools only.",
            "unsupported_value",
          );
        }
        continue;
      }
      if (allowed.name === undefined) {
        throw ApiError.invalid(
          `${param}.name`,
          `Missing required parameter: '${param}.name'.`,
          "missing_required_parameter",
        );
      }
      if (!functionNames.has(allowed.name)) {
        throw ApiError.invalid(
          param,
          `Allowed tool '${allowed.name}' (${param}) not found in 'tools' parameter.`,
          "invalid_value",
        );
      }
    }
    return;
  }
  if (!backend.native) {
    throw ApiError.invalid(
      "tool_choice",
      `Tool choice '${choice.type}' cannot be used with model '${backend.model}': ferry's backend ` +
        "for this model runs function tools only; use 'auto', 'required', 'none' or " +
        "{type: 'function', name}.",
      "unsupported_value",
    );
  }
}

/**
 * Every image in the new input comes by an http(s) or data URL, or a file_id: anything else
 * (a bare path, ftp://) no backend can fetch, and it is the client's to fix.
 */
export function assertImageSources(input: CreateResponseRequest["input"]): void {
  if (!Array.isArray(input)) {
    return;
  }
  for (const [itemIndex, item] of input.entries()) {
    const parts =
      item.type === "message" && Array.isArray(item.content)
        ? item.content
        : item.type === "function_call_output" && Array.isArray(item.output)
          ? item.output
          : [];
    const field = item.type === "message" ? "content" : "output";
    for (const [partIndex, part] of parts.entries()) {
      if (part.type !== "input_image") {
        continue;
      }
      const param = `input[${itemIndex}].${field}[${partIndex}]`;
      const url = part.image_url ?? null;
      const fileId = part.file_id ?? null;
      if (url === null && fileId === null) {
        throw ApiError.invalid(
          `${param}.image_url`,
          `An input_image (${param}) needs 'image_url' (an http(s) or data URL) or 'file_id'.`,
          "missing_required_parameter",
        );
      }
      if (url !== null && !/^(https?:\/\/|data:image\/)/i.test(url)) {
        throw ApiError.invalid(
          `${param}.image_url`,
          `Invalid 'image_url' at ${param}: expected an http(s) URL or a data URL ` +
            "(data:image/<type>;base64,...).",
          "invalid_value",
        );
      }
    }
  }
}
