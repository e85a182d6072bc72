import type { ChatMessage } from "../backends/backend.js";
import type { ChatMessageInput } from "../contract/chat-request.js";
import { contentToText } from "./responses-to-chat.js";

/** Chat Completions request messages as backend messages: text kept, media as markers. */
export function chatInputToMessages(messages: readonly ChatMessageInput[]): ChatMessage[] {
  return messages.map((message): ChatMessage => {
    switch (message.role) {
      case "assistant":
        return {
          role: "assistant",
          content: contentToText(message.content ?? message.refusal ?? ""),
          ...(message.tool_calls === undefined
            ? {}
            : {
                toolCalls: message.tool_calls.map((call) => ({
                  id: call.id,
                  name: call.function.name,
                  arguments: call.function.arguments,
                })),
              }),
        };
      case "tool":
        return {
          role: "tool",
          content: contentToText(message.content),
          toolCallId: message.tool_call_id,
        };
      case "function":
        // The deprecated function role predates tool calls; a tool message is its nearest form.
        return { role: "tool", content: message.content ?? "", toolCallId: message.name };
      default:
        return { role: message.role, content: contentToText(message.content) };
    }
  });
}
