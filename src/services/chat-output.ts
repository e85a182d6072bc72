import type {
  FinishReason,
  Generation,
  GenerationEvent,
  TokenLogprob,
} from "../backends/backend.js";

/**
 * Contract generations as Chat Completions objects: a choice's message (content, refusal,
 * tool_calls), its finish_reason, its logprobs, and the chunk deltas of a streamed choice, as
 * OpenAI writes them.
 *
 * `legacyFunctions`: the request used the deprecated `functions`, and OpenAI then answers in
 * kind: the call is `message.function_call` (one, without an id) and finish_reason is
 * `function_call`.
 */

export interface ChatOutputOptions {
  readonly legacyFunctions: boolean;
}

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
  function_call?: { name: string; arguments: string };
}

export type ChatFinishReason = FinishReason | "function_call";

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

export interface ChatToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments: string };
}

export interface ChatChunkDelta {
  role?: "assistant";
  content?: string | null;
  refusal?: string | null;
  tool_calls?: ChatToolCallDelta[];
  function_call?: { name?: string; arguments: string };
}

/**
 * The message of a finished choice. `content` is null when the model wrote no text but called
 * tools or refused (OpenAI's shape: a refusal is `refusal`, not content); "" for an empty
 * answer.
 */
export function chatMessageOf(
  generation: Generation,
  options: ChatOutputOptions,
): ChatChoiceMessage {
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
  const message: ChatChoiceMessage = {
    role: "assistant",
    content: text !== "" || (toolCalls.length === 0 && refusal === "") ? text : null,
    refusal: refusal === "" ? null : refusal,
    annotations: [],
  };
  const [firstCall] = toolCalls;
  if (options.legacyFunctions) {
    // A backend asked for one call makes one; were there more, the legacy shape has no room.
    if (firstCall !== undefined) {
      message.function_call = firstCall.function;
    }
  } else if (firstCall !== undefined) {
    message.tool_calls = toolCalls;
  }
  return message;
}

export function chatFinishReason(
  finishReason: FinishReason,
  options: ChatOutputOptions,
): ChatFinishReason {
  return options.legacyFunctions && finishReason === "tool_calls" ? "function_call" : finishReason;
}

/**
 * The choice's logprobs when they were asked for, else null (as OpenAI sends them). `content`
 * is null when the model wrote no text (only calls or a refusal); backends give no logprobs for
 * refusals, so `refusal` is null.
 */
export function chatLogprobsOf(generation: Generation, asked: boolean): ChatLogprobs | null {
  if (!asked) {
    return null;
  }
  let content: ChatTokenLogprob[] | null = null;
  for (const item of generation.items) {
    if (item.type === "message") {
      for (const part of item.parts) {
        if (part.type === "text") {
          content = [...(content ?? []), ...(part.logprobs ?? []).map(chatTokenLogprob)];
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
 * the choice (`tool_calls[].index`); the first delta of a call carries its id, type, name and
 * empty arguments, later ones only arguments, as the SDKs' stream helpers expect. In legacy
 * mode the one call streams as `function_call` (name first, then arguments) and later calls are
 * dropped, as in `chatMessageOf`.
 */
export function createChatDeltaMapper(options: ChatOutputOptions) {
  const toolIndexByItem = new Map<number, number>();
  return (
    event: Exclude<GenerationEvent, { type: "done" }>,
  ): { delta: ChatChunkDelta; logprobs: TokenLogprob[] | null } | null => {
    switch (event.type) {
      case "item.start": {
        if (event.item.type !== "function_call") {
          return null;
        }
        const index = toolIndexByItem.size;
        toolIndexByItem.set(event.index, index);
        if (options.legacyFunctions) {
          return index === 0
            ? { delta: { function_call: { name: event.item.name, arguments: "" } }, logprobs: null }
            : null;
        }
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
      case "text.delta":
        return {
          delta: { content: event.text },
          logprobs: event.logprobs === undefined ? null : [...event.logprobs],
        };
      case "refusal.delta":
        return { delta: { refusal: event.text }, logprobs: null };
      case "arguments.delta": {
        const index = toolIndexByItem.get(event.index);
        if (index === undefined || event.text === "") {
          return null;
        }
        if (options.legacyFunctions) {
          return index === 0
            ? { delta: { function_call: { arguments: event.text } }, logprobs: null }
            : null;
        }
        return {
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

/**
 * A streamed choice's first delta, as OpenAI sends it: the role with `content: ""` before text
 * (or an empty answer), or, when the answer opens with a call, the role with `content: null`
 * and that call's first fragment in one chunk (`tookFirst`: the fragment is not sent again).
 */
export function openingDelta(first: ChatChunkDelta | null): {
  delta: ChatChunkDelta;
  tookFirst: boolean;
} {
  if (first !== null && (first.tool_calls !== undefined || first.function_call !== undefined)) {
    return {
      delta: { role: "assistant", content: null, ...first, refusal: null },
      tookFirst: true,
    };
  }
  return { delta: { role: "assistant", content: "", refusal: null }, tookFirst: false };
}
