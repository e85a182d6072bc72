import type { ModelMessage } from "../model-contract.js";

/**
 * The mock's answer after tool results: when the conversation ends with tool messages, the
 * reply quotes each output under the name of the call it answers ("Based on get_weather:
 * {"temp":21}, …"), so a test of agent code can see the tool's result reach the final answer.
 * Null when the last message is not a tool result.
 */

// A tool may return a whole document; the answer quotes the start of it.
const MAX_QUOTED_CHARS = 400;

export function answerFromToolOutputs(messages: readonly ModelMessage[]): string | null {
  const outputs: ModelMessage[] = [];
  for (let index = messages.length - 1; index >= 0 && messages[index]?.role === "tool"; index--) {
    outputs.unshift(messages[index] as ModelMessage);
  }
  if (outputs.length === 0) {
    return null;
  }
  const names = new Map<string, string>();
  for (const message of messages) {
    if (message.role === "assistant") {
      for (const call of message.toolCalls ?? []) {
        names.set(call.id, call.name);
      }
    }
  }
  const quotes = outputs.map((message) => {
    const name =
      message.role === "tool" ? (names.get(message.toolCallId) ?? "the tool") : "the tool";
    const text = message.content.map((part) => (part.type === "text" ? part.text : "")).join("");
    const quoted = text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}…` : text;
    return `${name}: ${quoted.trim() === "" ? "(no output)" : quoted}`;
  });
  const summary =
    outputs.length === 1
      ? "That is the result of the call, so here is the answer it gives."
      : `Those are the results of the ${outputs.length} calls, taken together.`;
  return `Based on ${quotes.join("; ")}, ${summary.charAt(0).toLowerCase()}${summary.slice(1)}`;
}
