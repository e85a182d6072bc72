import type { ContentPart, ModelMessage } from "../backends/backend.js";
import { textContent } from "../backends/message-text.js";
import type { ChatMessageInput } from "../contract/chat-request.js";

/**
 * Chat Completions request messages as contract messages, every part kept. The request is
 * assumed to have passed `assertChatRequestUsable`.
 */
export function chatMessagesToModel(messages: readonly ChatMessageInput[]): ModelMessage[] {
  return messages.map((message): ModelMessage => {
    switch (message.role) {
      case "assistant": {
        const content = chatParts(message.content ?? null);
        if (typeof message.refusal === "string" && message.refusal !== "") {
          content.push({ type: "refusal", refusal: message.refusal });
        }
        // Custom calls were refused by assertChatRequestUsable.
        const calls = (message.tool_calls ?? []).flatMap((call) =>
          call.type === "function" ? [call] : [],
        );
        // The deprecated `function_call` is one call; it has no id, so its name stands in.
        const legacy = message.function_call ?? null;
        const toolCalls = [
          ...calls.map((call) => ({
            id: call.id,
            name: call.function.name,
            arguments: call.function.arguments,
          })),
          ...(legacy === null
            ? []
            : [{ id: legacy.name, name: legacy.name, arguments: legacy.arguments }]),
        ];
        return { role: "assistant", content, ...(toolCalls.length > 0 ? { toolCalls } : {}) };
      }
      case "tool":
        return {
          role: "tool",
          toolCallId: message.tool_call_id,
          content: chatParts(message.content),
        };
      case "function":
        // The deprecated function role answers the deprecated function_call, by name.
        return {
          role: "tool",
          toolCallId: message.name,
          content: textContent(message.content ?? ""),
        };
      default:
        return { role: message.role, content: chatParts(message.content) };
    }
  });
}

/** A Chat content value (a string or parts) as contract parts. */
export function chatParts(content: unknown): ContentPart[] {
  if (typeof content === "string") {
    return textContent(content);
  }
  if (!Array.isArray(content)) {
    return [];
  }
  const parts: ContentPart[] = [];
  for (const part of content as Record<string, unknown>[]) {
    switch (part.type) {
      case "text":
        parts.push({ type: "text", text: String(part.text ?? "") });
        break;
      case "refusal":
        parts.push({ type: "refusal", refusal: String(part.refusal ?? "") });
        break;
      case "image_url": {
        const image = part.image_url as { url: string; detail?: "auto" | "low" | "high" };
        parts.push({ type: "image", url: image.url, detail: image.detail ?? "auto" });
        break;
      }
      case "input_audio": {
        const audio = part.input_audio as { data: string; format: string };
        parts.push({ type: "audio", data: audio.data, format: audio.format });
        break;
      }
      case "file": {
        const file = part.file as { file_data?: string; file_id?: string; filename?: string };
        parts.push({
          type: "file",
          ...(file.file_data === undefined ? {} : { data: file.file_data }),
          ...(file.file_id === undefined ? {} : { fileId: file.file_id }),
          ...(file.filename === undefined ? {} : { filename: file.filename }),
        });
        break;
      }
    }
  }
  return parts;
}
