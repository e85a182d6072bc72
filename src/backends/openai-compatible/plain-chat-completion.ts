import type { WireChatCompletion } from "./wire-schemas.js";

/**
 * Whether an upstream's chat completion is the plain kind nearly every batch line gets back (one
 * choice, a text message, no tool calls, no logprobs), with every field ChatCompletionSchema
 * reads of the type it requires: such an answer is used as it is, without the zod parse, which
 * costs more than the rest of reading it. Anything else (tool calls, logprobs, a field of a
 * type the schema refuses, more choices) returns false and goes through the schema, which
 * accepts or names what is wrong exactly as before.
 */
export function isPlainChatCompletion(json: unknown): json is WireChatCompletion {
  if (!isObject(json) || !isNullish(json.id, "string")) {
    return false;
  }
  const { choices, usage } = json;
  if (!Array.isArray(choices) || choices.length !== 1) {
    return false;
  }
  const [choice] = choices as unknown[];
  if (!isObject(choice) || !isNullish(choice.finish_reason, "string")) {
    return false;
  }
  if (choice.logprobs !== undefined && choice.logprobs !== null) {
    return false;
  }
  const { message } = choice;
  return (
    isObject(message) &&
    isNullish(message.content, "string") &&
    isNullish(message.refusal, "string") &&
    isNullish(message.reasoning_content, "string") &&
    isNullish(message.reasoning, "string") &&
    (message.tool_calls === undefined || message.tool_calls === null) &&
    (message.function_call === undefined || message.function_call === null) &&
    isPlainUsage(usage)
  );
}

function isPlainUsage(usage: unknown): boolean {
  if (usage === undefined || usage === null) {
    return true;
  }
  if (!isObject(usage)) {
    return false;
  }
  const prompt = usage.prompt_tokens_details;
  const completion = usage.completion_tokens_details;
  return (
    isNullish(usage.prompt_tokens, "number") &&
    isNullish(usage.completion_tokens, "number") &&
    (prompt === undefined ||
      prompt === null ||
      (isObject(prompt) && isNullish(prompt.cached_tokens, "number"))) &&
    (completion === undefined ||
      completion === null ||
      (isObject(completion) && isNullish(completion.reasoning_tokens, "number")))
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `value` is of `type`, null or absent: zod's `.nullish()`. Infinity (JSON's 1e400) is not a number to zod. */
function isNullish(value: unknown, type: "string" | "number"): boolean {
  if (value === undefined || value === null) {
    return true;
  }
  return type === "number"
    ? typeof value === "number" && Number.isFinite(value)
    : typeof value === type;
}
