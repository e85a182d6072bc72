import type {
  FinishReason,
  Generation,
  GenerationEvent,
  TokenLogprob,
} from "../backends/backend.js";

/**
 * Contract generations as Chat Completions objects: a choice's message (content, refusal,
 * tool_calls), its logprobs, and the chunk deltas of a streamed choice, as OpenAI writes them.
 */

export interface ChatToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ChatChoiceMessage {
  role: "assistant";
  content: string | null;
  refusal: string | null;
  annotations: unknown[];
  tool_calls?: ChatToolCall[];
}

export interface ChatLogprobs {
  content: ChatTokenLogprob[] | null;
  refusal: ChatTokenLogprob[] | null;
}

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  top_logprobs: { token: string; logprob: number; bytes: number[] | null }[];
}

export interface ChatChunkDelta {
  role?: "assistant";
  content?: string | null;
  refusal?: string | null;
  tool_calls?: {
    index: number;
    id?: string;
    type?: "function";
    function: { name?: string; arguments: string };
  }[];
}

/** The message of a finished choice; content is null when the model only called tools. */
export function chatMessageOf(generation: Generation): ChatChoiceMessage {
  let text = "";
  let refusal = "";
  const toolCalls: ChatToolCall[] = [];
  for (const item of generation.items) {
    if (item.type === "message") {
      for (const part of item.parts) {
        if (part.type === "text") {
          text += part.text;
        } else {
          refusal += part.refusal;
        }
      }
    } else if (item.type === "function_call") {
      toolCalls.push({
        id: item.callId,
        type: "function",
        function: { name: item.name, arguments: item.arguments },
      });
    }
  }
  const hasText = generation.items.some(
    (item) => item.type === "message" && item.parts.some((part) => part.type === "text"),
  );
  return {
    role: "assistant",
    content: hasText || (toolCalls.length === 0 && refusal === "") ? text : null,
    refusal: refusal === "" ? null : refusal,
    annotations: [],
    ...(toolCalls.length === 0 ? {} : { tool_calls: toolCalls }),
  };
}

/** The choice's logprobs when they were asked for, else null (as OpenAI sends them). */
export function chatLogprobsOf(generation: Generation, asked: boolean): ChatLogprobs | null {
  if (!asked) {
    return null;
  }
  const content: ChatTokenLogprob[] = [];
  for (const item of generation.items) {
    if (item.type === "message") {
      for (const part of item.parts) {
        if (part.type === "text") {
          content.push(...(part.logprobs ?? []).map(chatTokenLogprob));
        }
      }
    }
  }
  return { content, refusal: null };
}

export function chatTokenLogprob(logprob: TokenLogprob): ChatTokenLogprob {
  return {
    token: logprob.token,
    logprob: logprob.logprob,
    bytes: logprob.bytes === null ? null : [...logprob.bytes],
    top_logprobs: logprob.topLogprobs.map((top) => ({
      token: top.token,
      logprob: top.logprob,
      bytes: top.bytes === null ? null : [...top.bytes],
    })),
  };
}

/**
 * Turns a choice's generation events into chunk deltas. Tool calls are numbered from 0 within
 * the choice (`tool_calls[].index`); the first delta of a call carries its id, type and name,
 * later ones only arguments, as the SDKs' stream helpers expect.
 */
export function createChatDeltaMapper() {
  const toolIndexByItem = new Map<number, number>();
  return (
    event: Exclude<GenerationEvent, { type: "done" }>,
  ): { delta: ChatChunkDelta; logprobs: TokenLogprob[] | null } | null => {
    switch (event.type) {
      case "item.start":
        if (event.item.type === "function_call") {
          const index = toolIndexByItem.size;
          toolIndexByItem.set(event.index, index);
          return {
            delta: {
              tool_calls: [
                {
                  index,
                  id: event.item.callId,
                  type: "function",
                  function: { name: event.item.name, arguments: "" },
                },
              ],
            },
            logprobs: null,
          };
        }
        return null;
      case "text.delta":
        return {
          delta: { content: event.text },
          logprobs: event.logprobs === undefined ? null : [...event.logprobs],
        };
      case "refusal.delta":
        return { delta: { refusal: event.text }, logprobs: null };
      case "arguments.delta": {
        const index = toolIndexByItem.get(event.index);
        return index === undefined
          ? null
          : {
              delta: { tool_calls: [{ index, function: { arguments: event.text } }] },
              logprobs: null,
            };
      }
      case "reasoning.delta":
        // Chat Completions has no reasoning field; the count is in usage.
        return null;
    }
  };
}

export type ChatFinishReason = FinishReason;
