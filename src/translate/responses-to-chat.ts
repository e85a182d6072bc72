import type { ChatMessage, ChatRole, ToolCall } from "../backends/backend.js";

/**
 * Turns a Responses conversation (instructions plus input and output items, oldest first) into
 * Chat Completions messages: what every backend consumes, and what vLLM, Ollama and llama.cpp
 * serve. Reasoning items have no Chat form and are dropped; consecutive function calls become
 * one assistant message with several tool calls, as Chat Completions expects.
 */
export function itemsToChatMessages(
  instructions: string | null,
  items: readonly Record<string, unknown>[],
): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (instructions !== null && instructions !== "") {
    // "system" rather than "developer": older OpenAI-compatible servers reject the newer role.
    messages.push({ role: "system", content: instructions });
  }
  let pendingCalls: ToolCall[] = [];
  const flushCalls = () => {
    if (pendingCalls.length > 0) {
      messages.push({ role: "assistant", content: "", toolCalls: pendingCalls });
      pendingCalls = [];
    }
  };
  for (const item of items) {
    if (item.type === "function_call") {
      pendingCalls.push({
        id: String(item.call_id),
        name: String(item.name),
        arguments: String(item.arguments),
      });
      continue;
    }
    flushCalls();
    if (item.type === "message") {
      messages.push({ role: item.role as ChatRole, content: contentToText(item.content) });
    } else if (item.type === "function_call_output") {
      messages.push({
        role: "tool",
        content: contentToText(item.output),
        toolCallId: String(item.call_id),
      });
    }
  }
  flushCalls();
  return messages;
}

/** The text of a content value: a string, or parts whose text is joined; media become markers. */
export function contentToText(content: unknown): string {
  if (typeof content === "string") {
    return content;
  }
  if (!Array.isArray(content)) {
    return "";
  }
  return content
    .map((part: Record<string, unknown>) => {
      switch (part.type) {
        case "input_text":
        case "output_text":
        case "text":
          return String(part.text ?? "");
        case "refusal":
          return String(part.refusal ?? "");
        case "input_image":
        case "image_url":
          return "[image]";
        case "input_file":
        case "file":
          return `[file${typeof part.filename === "string" ? ` ${part.filename}` : ""}]`;
        default:
          return "";
      }
    })
    .filter((text) => text !== "")
    .join("\n");
}
