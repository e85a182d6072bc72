import type { CreateChatCompletionRequest } from "../contract/chat-request.js";
import { ApiError } from "../lib/api-error.js";
import { assertUsableSchema } from "./schema-rules.js";

/**
 * The checks on a Chat Completions request that span fields (the schema checks each field on
 * its own): what OpenAI refuses with a 400, refused here with a message that says what to fix,
 * so that a client developed against ferry also works against OpenAI. Runs for HTTP requests and
 * batch lines alike.
 */

// OpenAI's rule for function names.
const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const CUSTOM_TOOLS =
  "ferry does not support custom tools (type 'custom'); declare a function tool " +
  "(type 'function') with a JSON Schema for its parameters instead.";

export function assertChatRequestUsable(request: CreateChatCompletionRequest): void {
  if (
    request.stream_options !== undefined &&
    request.stream_options !== null &&
    request.stream !== true
  ) {
    throw ApiError.invalid(
      "stream_options",
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
    );
  }
  if (
    request.top_logprobs !== undefined &&
    request.top_logprobs !== null &&
    request.logprobs !== true
  ) {
    throw ApiError.invalid(
      "top_logprobs",
      "Invalid value for 'top_logprobs': 'top_logprobs' requires 'logprobs' to be true. " +
        "Set 'logprobs': true, or leave 'top_logprobs' out.",
      "invalid_value",
    );
  }
  assertNoUnsupportedOutput(request);
  const names = assertToolsUsable(request);
  assertToolChoiceUsable(request, names);
  assertResponseFormatUsable(request);
  assertMessagesUsable(request);
}

function assertResponseFormatUsable(request: CreateChatCompletionRequest): void {
  const format = request.response_format;
  if (format?.type !== "json_schema") {
    return;
  }
  const spec = format.json_schema;
  const strict = spec.strict === true;
  // Without a schema any JSON goes; strict mode has nothing to be strict about, which OpenAI
  // refuses (assertUsableSchema says the schema must be an object).
  if (spec.schema !== undefined || strict) {
    assertUsableSchema(spec.schema, {
      strict,
      param: "response_format.json_schema.schema",
      kind: "response_format",
      name: spec.name,
    });
  }
}

/**
 * What the model contract has no room for, refused rather than dropped: a client that asked for
 * web search or spoken audio and got plain text would not know its request was not honoured.
 */
function assertNoUnsupportedOutput(request: CreateChatCompletionRequest): void {
  if (request.web_search_options !== undefined) {
    throw ApiError.invalid(
      "web_search_options",
      "ferry does not support web search in Chat Completions (web_search_options); leave the " +
        "parameter out, or give the model a function tool that searches.",
      "unsupported_parameter",
    );
  }
  if (request.modalities?.includes("audio") === true || (request.audio ?? null) !== null) {
    throw ApiError.invalid(
      request.modalities?.includes("audio") === true ? "modalities" : "audio",
      "ferry does not generate audio output; ask for 'modalities': ['text'] and leave 'audio' out.",
      "unsupported_parameter",
    );
  }
}

/** Checks `tools` and `functions`; returns the declared function names. */
function assertToolsUsable(request: CreateChatCompletionRequest): Set<string> {
  const tools = request.tools ?? [];
  const functions = request.functions ?? [];
  if (tools.length > 0 && functions.length > 0) {
    throw ApiError.invalid(
      "functions",
      "Use either 'tools' or the deprecated 'functions', not both: declare every function in " +
        '\'tools\' as {"type": "function", "function": {...}}.',
    );
  }
  const names = new Set<string>();
  const declare = (name: string, param: string) => {
    if (!FUNCTION_NAME.test(name)) {
      throw ApiError.invalid(
        param,
        `Invalid '${param}': '${name.slice(0, 100)}' is not a valid function name. A name is ` +
          "1 to 64 characters: letters, digits, underscores or dashes (^[a-zA-Z0-9_-]{1,64}$).",
        "invalid_value",
      );
    }
    if (names.has(name)) {
      throw ApiError.invalid(
        param,
        `Invalid '${param}': the function name '${name}' is declared twice. Function names ` +
          "must be unique within a request.",
        "invalid_value",
      );
    }
    names.add(name);
  };
  for (const [index, tool] of tools.entries()) {
    if (tool.type === "custom") {
      throw ApiError.invalid(`tools[${index}]`, CUSTOM_TOOLS, "unsupported_tool");
    }
    declare(tool.function.name, `tools[${index}].function.name`);
    // No parameters: a function that takes none, which strict mode allows too.
    const parameters = tool.function.parameters ?? null;
    if (parameters !== null) {
      assertUsableSchema(parameters, {
        strict: tool.function.strict === true,
        param: `tools[${index}].function.parameters`,
        kind: "function",
        name: tool.function.name,
      });
    }
  }
  for (const [index, fn] of functions.entries()) {
    declare(fn.name, `functions[${index}].name`);
    if (fn.parameters !== undefined) {
      assertUsableSchema(fn.parameters, {
        strict: false,
        param: `functions[${index}].parameters`,
        kind: "function",
        name: fn.name,
      });
    }
  }
  return names;
}

function assertToolChoiceUsable(request: CreateChatCompletionRequest, names: Set<string>): void {
  const choice = request.tool_choice;
  if (choice !== undefined && choice !== "auto" && choice !== "none") {
    if (names.size === 0 || request.tools === undefined || request.tools.length === 0) {
      throw ApiError.invalid(
        "tool_choice",
        "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are " +
          "specified.",
        "invalid_value",
      );
    }
    if (typeof choice === "object") {
      if (choice.type === "custom") {
        throw ApiError.invalid("tool_choice", CUSTOM_TOOLS, "unsupported_tool");
      }
      if (choice.type === "function") {
        assertDeclared(choice.function.name, names, "tool_choice.function.name", "tools");
      } else {
        for (const [index, tool] of choice.allowed_tools.tools.entries()) {
          const param = `tool_choice.allowed_tools.tools[${index}]`;
          if (tool.type === "custom") {
            throw ApiError.invalid(param, CUSTOM_TOOLS, "unsupported_tool");
          }
          assertDeclared(tool.function.name, names, `${param}.function.name`, "tools");
        }
      }
    }
  }
  const legacy = request.function_call;
  if (legacy !== undefined && legacy !== "auto" && legacy !== "none") {
    if (request.functions === undefined || request.functions.length === 0) {
      throw ApiError.invalid(
        "function_call",
        "Invalid value for 'function_call': 'function_call' is only allowed when 'functions' " +
          "are specified.",
        "invalid_value",
      );
    }
    assertDeclared(legacy.name, names, "function_call.name", "functions");
  }
}

function assertDeclared(name: string, names: Set<string>, param: string, list: string): void {
  if (!names.has(name)) {
    throw ApiError.invalid(
      param,
      `Invalid value for '${param}': no function named '${name.slice(0, 100)}' is declared in ` +
        `'${list}'. Declare it there, or name one of: ${[...names].join(", ")}.`,
      "invalid_value",
    );
  }
}

/**
 * History messages: custom tool calls are refused, and tool results must answer a call, which
 * is what OpenAI checks (a tool message after a turn that made no such call is a 400 there).
 */
function assertMessagesUsable(request: CreateChatCompletionRequest): void {
  let openCalls = new Set<string>();
  for (const [index, message] of request.messages.entries()) {
    if (message.role === "assistant") {
      openCalls = new Set();
      for (const [callIndex, call] of (message.tool_calls ?? []).entries()) {
        if (call.type === "custom") {
          throw ApiError.invalid(
            `messages[${index}].tool_calls[${callIndex}]`,
            CUSTOM_TOOLS,
            "unsupported_tool",
          );
        }
        openCalls.add(call.id);
      }
    } else if (message.role === "tool") {
      if (!openCalls.has(message.tool_call_id)) {
        throw ApiError.invalid(
          `messages[${index}].tool_call_id`,
          `Invalid parameter: messages with role 'tool' must be a response to a preceding ` +
            `message with 'tool_calls'; no assistant message before messages[${index}] made a ` +
            `call with id '${message.tool_call_id.slice(0, 100)}'.`,
        );
      }
    } else if (message.role !== "function") {
      openCalls = new Set();
    }
  }
}
