import type { ChatMessage } from "../backends/backend.js";

/**
 * ferry's chat messages as the `messages` of an upstream Chat Completions request, in the
 * plainest form every OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio) accepts.
 */

export interface UpstreamToolCall {
  readonly id: string;
  readonly type: "function";
  readonly function: { readonly name: string; readonly arguments: string };
}

export type UpstreamChatMessage =
  | { readonly role: "system" | "user" | "assistant"; readonly content: string }
  | {
      readonly role: "assistant";
      readonly content: string | null;
      readonly tool_calls: readonly UpstreamToolCall[];
    }
  | { readonly role: "tool"; readonly tool_call_id: string; readonly content: string };

export function toUpstreamChatMessages(messages: readonly ChatMessage[]): UpstreamChatMessage[] {
  return messages.map((message): UpstreamChatMessage => {
    switch (message.role) {
      case "developer":
        // "developer" is OpenAI's newer name for "system"; older servers and chat templates
        // reject it, and every server treats "system" the same way.
        return { role: "system", content: message.content };
      case "assistant":
        if (message.toolCalls !== undefined && message.toolCalls.length > 0) {
          return {
            role: "assistant",
            // OpenAI sends null, not "", for a turn that only calls tools; some chat templates
            // render an empty string as an empty assistant turn.
            content: message.content === "" ? null : message.content,
            tool_calls: message.toolCalls.map((call) => ({
              id: call.id,
              type: "function",
              function: { name: call.name, arguments: call.arguments },
            })),
          };
        }
        return { role: "assistant", content: message.content };
      case "tool":
        // A tool message without the call it answers cannot be expressed; the upstream gets an
        // empty id and decides (most reject it), rather than ferry silently changing the turn.
        return { role: "tool", tool_call_id: message.toolCallId ?? "", content: message.content };
      default:
        return { role: message.role, content: message.content };
    }
  });
}
