import type { ContentPart, ModelMessage, ToolCall } from "../backends/backend.js";
import { textContent } from "../backends/message-text.js";

/**
 * A Responses conversation (instructions plus input and output items, oldest first) as contract
 * messages. Consecutive function calls become one assistant turn with several tool calls, as
 * Chat Completions expects; a reasoning item's text rides on the assistant turn that follows it.
 * Items are as ferry stores them (see response-items.ts), already validated.
 */
export function itemsToMessages(
  instructions: string | null,
  items: readonly Record<string, unknown>[],
): ModelMessage[] {
  const messages: ModelMessage[] = [];
  if (instructions !== null && instructions !== "") {
    messages.push({ role: "system", content: textContent(instructions) });
  }
  let pendingCalls: ToolCall[] = [];
  let pendingReasoning: string[] = [];
  const reasoningField = () => {
    const reasoning = pendingReasoning.join("\n");
    pendingReasoning = [];
    return reasoning === "" ? {} : { reasoning };
  };
  const flushCalls = () => {
    if (pendingCalls.length > 0) {
      messages.push({
        role: "assistant",
        content: [],
        toolCalls: pendingCalls,
        ...reasoningField(),
      });
      pendingCalls = [];
    }
  };
  for (const item of items) {
    switch (item.type) {
      case "function_call":
        pendingCalls.push({
          id: String(item.call_id),
          name: String(item.name),
          arguments: String(item.arguments),
        });
        continue;
      case "reasoning":
        flushCalls();
        pendingReasoning.push(reasoningText(item));
        continue;
    }
    flushCalls();
    if (item.type === "message") {
      const content = contentParts(item.content);
      if (item.role === "assistant") {
        messages.push({ role: "assistant", content, ...reasoningField() });
      } else {
        messages.push({ role: item.role as "system" | "developer" | "user", content });
      }
    } else if (item.type === "function_call_output") {
      messages.push({
        role: "tool",
        toolCallId: String(item.call_id),
        content: contentParts(item.output),
      });
    }
  }
  flushCalls();
  return messages;
}

/** The reasoning text an item shows: its content's text, else its summary's. */
function reasoningText(item: Record<string, unknown>): string {
  const texts = (list: unknown) =>
    Array.isArray(list)
      ? list
          .map((part: Record<string, unknown>) => (typeof part.text === "string" ? part.text : ""))
          .filter((text) => text !== "")
      : [];
  const content = texts(item.content);
  return (content.length > 0 ? content : texts(item.summary)).join("\n");
}

/** A Responses content value (a string, or input/output parts) as contract parts. */
export function contentParts(content: unknown): ContentPart[] {
  if (typeof content === "string") {
    return textContent(content);
  }
  if (!Array.isArray(content)) {
    return [];
  }
  const parts: ContentPart[] = [];
  for (const part of content as Record<string, unknown>[]) {
    switch (part.type) {
      case "input_text":
      case "output_text":
      case "text":
        parts.push({ type: "text", text: String(part.text ?? "") });
        break;
      case "refusal":
        parts.push({ type: "refusal", refusal: String(part.refusal ?? "") });
        break;
      case "input_image":
        parts.push({
          type: "image",
          url: typeof part.image_url === "string" ? part.image_url : "",
          detail: (part.detail as "auto" | "low" | "high" | "original" | undefined) ?? "auto",
          ...(typeof part.file_id === "string" ? { fileId: part.file_id } : {}),
        });
        break;
      case "input_file":
        parts.push({
          type: "file",
          ...(typeof part.file_data === "string" ? { data: part.file_data } : {}),
          ...(typeof part.file_url === "string" ? { url: part.file_url } : {}),
          ...(typeof part.file_id === "string" ? { fileId: part.file_id } : {}),
          ...(typeof part.filename === "string" ? { filename: part.filename } : {}),
        });
        break;
      case "input_audio": {
        const audio = part.input_audio as { data?: unknown; format?: unknown } | undefined;
        parts.push({
          type: "audio",
          data: String(audio?.data ?? ""),
          format: String(audio?.format ?? ""),
        });
        break;
      }
    }
  }
  return parts;
}
