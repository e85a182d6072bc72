import { describe, expect, it } from "vitest";
import { eventsOfGeneration } from "../../src/backends/generation-events.js";
import type {
  Generation,
  GenerationEvent,
  TokenLogprob,
  TokenUsage,
} from "../../src/backends/model-contract.js";
import {
  type ChatChunkDelta,
  chatFinishReason,
  chatLogprobsOf,
  chatMessageOf,
  createChatDeltaMapper,
  openingDelta,
} from "../../src/services/chat-output.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";

const USAGE: TokenUsage = {
  inputTokens: 10,
  outputTokens: 5,
  cachedInputTokens: 0,
  reasoningTokens: 0,
};
const MODERN = { legacyFunctions: false };
const LEGACY = { legacyFunctions: true };

const logprob = (token: string, value: number): TokenLogprob => ({
  token,
  logprob: value,
  bytes: [...Buffer.from(token)],
  topLogprobs: [{ token, logprob: value, bytes: [...Buffer.from(token)] }],
});

const twoCalls: Generation = {
  items: [
    { type: "function_call", callId: "call_a", name: "get_weather", arguments: '{"city":"Paris"}' },
    { type: "function_call", callId: "call_b", name: "get_time", arguments: '{"tz":"CET"}' },
  ],
  finishReason: "tool_calls",
  usage: USAGE,
};

/** A whole chat.completion around one message, as the service builds it, for spec checks. */
function completionOf(generation: Generation, options = MODERN, asked = false) {
  return {
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [
      {
        index: 0,
        message: chatMessageOf(generation, options),
        logprobs: chatLogprobsOf(generation, asked),
        finish_reason: chatFinishReason(generation.finishReason, options),
      },
    ],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

function deltasOf(events: Iterable<GenerationEvent>, options = MODERN) {
  const toDelta = createChatDeltaMapper(options);
  const deltas: { delta: ChatChunkDelta; logprobs: TokenLogprob[] | null }[] = [];
  for (const event of events) {
    if (event.type !== "done") {
      const mapped = toDelta(event);
      if (mapped !== null) {
        deltas.push(mapped);
      }
    }
  }
  return deltas;
}

describe("chatMessageOf", () => {
  it("gives text as content with refusal null and no tool_calls key", () => {
    const message = chatMessageOf(
      {
        items: [{ type: "message", parts: [{ type: "text", text: "Hi." }] }],
        finishReason: "stop",
        usage: USAGE,
      },
      MODERN,
    );
    expect(message).toEqual({ role: "assistant", content: "Hi.", refusal: null, annotations: [] });
    expect("tool_calls" in message).toBe(false);
  });

  it("gives content null and every call, in order, when the model only called tools", () => {
    const message = chatMessageOf(twoCalls, MODERN);
    expect(message.content).toBeNull();
    expect(message.tool_calls).toEqual([
      {
        id: "call_a",
        type: "function",
        function: { name: "get_weather", arguments: '{"city":"Paris"}' },
      },
      { id: "call_b", type: "function", function: { name: "get_time", arguments: '{"tz":"CET"}' } },
    ]);
    expectMatchesComponent("CreateChatCompletionResponse", completionOf(twoCalls));
    expect(chatFinishReason("tool_calls", MODERN)).toBe("tool_calls");
  });

  it("keeps text written before a call as content", () => {
    const generation: Generation = {
      items: [
        { type: "message", parts: [{ type: "text", text: "Let me check." }] },
        ...twoCalls.items.slice(0, 1),
      ],
      finishReason: "tool_calls",
      usage: USAGE,
    };
    const message = chatMessageOf(generation, MODERN);
    expect(message.content).toBe("Let me check.");
    expect(message.tool_calls).toHaveLength(1);
  });

  it("puts a refusal in refusal with content null", () => {
    const generation: Generation = {
      items: [
        { type: "message", parts: [{ type: "refusal", refusal: "I can't help with that." }] },
      ],
      finishReason: "stop",
      usage: USAGE,
    };
    const message = chatMessageOf(generation, MODERN);
    expect(message).toMatchObject({ content: null, refusal: "I can't help with that." });
    expectMatchesComponent("CreateChatCompletionResponse", completionOf(generation));
  });

  it("gives an empty answer as content '' (not null)", () => {
    const message = chatMessageOf({ items: [], finishReason: "stop", usage: USAGE }, MODERN);
    expect(message.content).toBe("");
  });

  it("ignores reasoning items and joins the text of several message items", () => {
    const generation: Generation = {
      items: [
        { type: "reasoning", text: "thinking", summary: [], encryptedContent: null },
        { type: "message", parts: [{ type: "text", text: "A" }] },
        { type: "message", parts: [{ type: "text", text: "B" }] },
      ],
      finishReason: "stop",
      usage: USAGE,
    };
    expect(chatMessageOf(generation, MODERN).content).toBe("AB");
  });

  it("answers a legacy functions request with function_call and finish_reason function_call", () => {
    const message = chatMessageOf(twoCalls, LEGACY);
    expect(message.function_call).toEqual({ name: "get_weather", arguments: '{"city":"Paris"}' });
    expect("tool_calls" in message).toBe(false);
    expect(message.content).toBeNull();
    expect(chatFinishReason("tool_calls", LEGACY)).toBe("function_call");
    expect(chatFinishReason("stop", LEGACY)).toBe("stop");
    expectMatchesComponent("CreateChatCompletionResponse", completionOf(twoCalls, LEGACY));
  });
});

describe("chatLogprobsOf", () => {
  const withLogprobs: Generation = {
    items: [
      {
        type: "message",
        parts: [
          {
            type: "text",
            text: "Hi there",
            logprobs: [logprob("Hi", -0.1), logprob(" there", -0.5)],
          },
        ],
      },
    ],
    finishReason: "stop",
    usage: USAGE,
  };

  it("is null unless asked", () => {
    expect(chatLogprobsOf(withLogprobs, false)).toBeNull();
  });

  it("lists every text token with its alternatives and bytes, refusal null", () => {
    const logprobs = chatLogprobsOf(withLogprobs, true);
    expect(logprobs?.refusal).toBeNull();
    expect(logprobs?.content).toEqual([
      {
        token: "Hi",
        logprob: -0.1,
        bytes: [72, 105],
        top_logprobs: [{ token: "Hi", logprob: -0.1, bytes: [72, 105] }],
      },
      {
        token: " there",
        logprob: -0.5,
        bytes: [...Buffer.from(" there")],
        top_logprobs: [{ token: " there", logprob: -0.5, bytes: [...Buffer.from(" there")] }],
      },
    ]);
    expectMatchesComponent(
      "CreateChatCompletionResponse",
      completionOf(withLogprobs, MODERN, true),
    );
  });

  it("has content null when the model wrote no text", () => {
    expect(chatLogprobsOf(twoCalls, true)).toEqual({ content: null, refusal: null });
  });
});

describe("createChatDeltaMapper", () => {
  it("streams a call as id/type/name with empty arguments, then arguments only, indexed per call", () => {
    const events: GenerationEvent[] = [
      {
        type: "item.start",
        index: 0,
        item: { type: "function_call", callId: "call_a", name: "get_weather" },
      },
      { type: "arguments.delta", index: 0, text: '{"city":' },
      { type: "arguments.delta", index: 0, text: '"Paris"}' },
      {
        type: "item.start",
        index: 1,
        item: { type: "function_call", callId: "call_b", name: "get_time" },
      },
      { type: "arguments.delta", index: 1, text: "{}" },
    ];
    expect(deltasOf(events).map((mapped) => mapped.delta)).toEqual([
      {
        tool_calls: [
          {
            index: 0,
            id: "call_a",
            type: "function",
            function: { name: "get_weather", arguments: "" },
          },
        ],
      },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
      {
        tool_calls: [
          {
            index: 1,
            id: "call_b",
            type: "function",
            function: { name: "get_time", arguments: "" },
          },
        ],
      },
      { tool_calls: [{ index: 1, function: { arguments: "{}" } }] },
    ]);
  });

  it("numbers calls from 0 even after a message item", () => {
    const generation: Generation = {
      items: [{ type: "message", parts: [{ type: "text", text: "Checking." }] }, ...twoCalls.items],
      finishReason: "tool_calls",
      usage: USAGE,
    };
    const deltas = deltasOf(eventsOfGeneration(generation)).map((mapped) => mapped.delta);
    expect(deltas[0]).toEqual({ content: "Checking." });
    expect(deltas.flatMap((delta) => delta.tool_calls ?? []).map((call) => call.index)).toEqual([
      0, 0, 1, 1,
    ]);
  });

  it("maps text with its logprobs, refusals to delta.refusal, and drops reasoning", () => {
    const events: GenerationEvent[] = [
      { type: "item.start", index: 0, item: { type: "reasoning" } },
      { type: "reasoning.delta", index: 0, text: "hmm" },
      { type: "item.start", index: 1, item: { type: "message" } },
      { type: "text.delta", index: 1, text: "Hi", logprobs: [logprob("Hi", -0.2)] },
      { type: "refusal.delta", index: 1, text: "No." },
    ];
    expect(deltasOf(events)).toEqual([
      { delta: { content: "Hi" }, logprobs: [logprob("Hi", -0.2)] },
      { delta: { refusal: "No." }, logprobs: null },
    ]);
  });

  it("streams the one legacy call as function_call and drops any later call", () => {
    const deltas = deltasOf(eventsOfGeneration(twoCalls), LEGACY).map((mapped) => mapped.delta);
    expect(deltas).toEqual([
      { function_call: { name: "get_weather", arguments: "" } },
      { function_call: { arguments: '{"city":"Paris"}' } },
    ]);
  });

  it("gives chunks that validate against the spec", () => {
    for (const mapped of deltasOf(eventsOfGeneration(twoCalls))) {
      expectMatchesComponent("CreateChatCompletionStreamResponse", {
        id: "chatcmpl-test",
        object: "chat.completion.chunk",
        created: 1,
        model: "m",
        choices: [{ index: 0, delta: mapped.delta, logprobs: null, finish_reason: null }],
      });
    }
  });
});

describe("openingDelta", () => {
  it("opens a text (or empty) answer with the role and content ''", () => {
    expect(openingDelta({ content: "Hi" })).toEqual({
      delta: { role: "assistant", content: "", refusal: null },
      tookFirst: false,
    });
    expect(openingDelta(null).delta).toEqual({ role: "assistant", content: "", refusal: null });
  });

  it("folds an opening call into the role chunk with content null", () => {
    const call = {
      index: 0,
      id: "call_a",
      type: "function" as const,
      function: { name: "f", arguments: "" },
    };
    expect(openingDelta({ tool_calls: [call] })).toEqual({
      delta: { role: "assistant", content: null, tool_calls: [call], refusal: null },
      tookFirst: true,
    });
    expect(openingDelta({ function_call: { name: "f", arguments: "" } })).toEqual({
      delta: {
        role: "assistant",
        content: null,
        function_call: { name: "f", arguments: "" },
        refusal: null,
      },
      tookFirst: true,
    });
  });
});
