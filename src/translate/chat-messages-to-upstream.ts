import { BackendError, type ContentPart, type ModelMessage } from "../backends/backend.js";
import { plainText } from "../backends/message-text.js";
import type { ImageDetail } from "../backends/model-contract.js";

/**
 * Contract messages as the `messages` of an upstream Chat Completions request, in the plainest
 * form every OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio) accepts: a content of
 * text alone is sent as a string, and only media make it a list of parts.
 */

export interface UpstreamToolCall {
  readonly id: string;
  readonly type: "function";
  readonly function: { readonly name: string; readonly arguments: string };
}

export type UpstreamContent = string | readonly Record<string, unknown>[];

export type UpstreamChatMessage =
  | { readonly role: "system" | "user"; readonly content: UpstreamContent }
  | {
      readonly role: "assistant";
      readonly content: string | null;
      readonly refusal?: string;
      readonly tool_calls?: readonly UpstreamToolCall[];
    }
  | { readonly role: "tool"; readonly tool_call_id: string; readonly content: string };

export function toUpstreamChatMessages(messages: readonly ModelMessage[]): UpstreamChatMessage[] {
  return messages.map(toUpstreamMessage);
}

function toUpstreamMessage(message: ModelMessage): UpstreamChatMessage {
  switch (message.role) {
    case "developer":
    case "system":
      // "developer" is OpenAI's newer name for "system"; older servers and chat templates
      // reject it, and every server treats "system" the same way.
      return { role: "system", content: plainText(message.content) };
    case "user":
      return { role: "user", content: upstreamContent(message.content) };
    case "assistant": {
      const text = plainText(message.content.filter((part) => part.type === "text"));
      const refusal = plainText(
        message.content
          .filter((part) => part.type === "refusal")
          .map((part) => ({ type: "text" as const, text: part.refusal })),
      );
      const calls = message.toolCalls ?? [];
      return {
        role: "assistant",
        // OpenAI sends null, not "", for a turn that only calls tools; some chat templates
        // render an empty string as an empty assistant turn.
        content: text === "" && calls.length > 0 ? null : text,
        ...(refusal === "" ? {} : { refusal }),
        ...(calls.length === 0
          ? {}
          : {
              tool_calls: calls.map((call) => ({
                id: call.id,
                type: "function" as const,
                function: { name: call.name, arguments: call.arguments },
              })),
            }),
      };
    }
    case "tool":
      return {
        role: "tool",
        tool_call_id: message.toolCallId,
        content: plainText(message.content),
      };
  }
}

/** Text alone as a string; with media, OpenAI's content parts. */
function upstreamContent(parts: readonly ContentPart[]): UpstreamContent {
  if (parts.every((part) => part.type === "text" || part.type === "refusal")) {
    return plainText(parts);
  }
  return parts.map(upstreamPart);
}

function upstreamPart(part: ContentPart): Record<string, unknown> {
  switch (part.type) {
    case "text":
      return { type: "text", text: part.text };
    case "refusal":
      return { type: "text", text: part.refusal };
    case "image":
      return {
        type: "image_url",
        image_url: { url: part.url, ...imageDetail(part.detail) },
      };
    case "audio":
      return { type: "input_audio", input_audio: { data: part.data, format: part.format } };
    case "file":
      if (part.data === undefined && part.fileId === undefined) {
        // Chat's file part has no URL field: sending it without the document would let the
        // model answer as if it had read it.
        throw new BackendError(
          "A file given by URL cannot be sent to a Chat Completions upstream; send it as file_data or upload it and pass its file_id.",
          { status: 400, param: "input" },
        );
      }
      return {
        type: "file",
        file: {
          ...(part.data === undefined ? {} : { file_data: part.data }),
          ...(part.filename === undefined ? {} : { filename: part.filename }),
          ...(part.fileId === undefined || part.data !== undefined ? {} : { file_id: part.fileId }),
        },
      };
  }
}

/**
 * Chat knows low, high and auto (its default, left out). Responses' "original" (full
 * resolution, no downscaling) has no Chat name; "high" is the nearest.
 */
function imageDetail(detail: ImageDetail) {
  switch (detail) {
    case "auto":
      return {};
    case "original":
      return { detail: "high" as const };
    default:
      return { detail };
  }
}
