import { accumulateResponse } from "openai/lib/responses/ResponseAccumulator";
import type { ResponseStreamEvent as SdkStreamEvent } from "openai/resources/responses/responses";
import { describe, expect, it } from "vitest";
import type {
  Generation,
  GenerationEvent,
  TokenLogprob,
  TokenUsage,
} from "../../src/backends/model-contract.js";
import type { CreateResponseRequest } from "../../src/contract/responses-request.js";
import {
  failedState,
  finishedState,
  paramsFromRequest,
  type ResponseState,
} from "../../src/services/response-object.js";
import type { LogprobsOutput } from "../../src/services/response-output.js";
import { streamResponseEvents } from "../../src/services/response-stream.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";

const USAGE: TokenUsage = {
  inputTokens: 5,
  outputTokens: 7,
  cachedInputTokens: 0,
  reasoningTokens: 3,
};

// The spec component each event type must match.
const COMPONENT_OF: Record<string, string> = {
  "response.created": "ResponseCreatedEvent",
  "response.in_progress": "ResponseInProgressEvent",
  "response.output_item.added": "ResponseOutputItemAddedEvent",
  "response.output_item.done": "ResponseOutputItemDoneEvent",
  "response.content_part.added": "ResponseContentPartAddedEvent",
  "response.content_part.done": "ResponseContentPartDoneEvent",
  "response.output_text.delta": "ResponseTextDeltaEvent",
  "response.output_text.done": "ResponseTextDoneEvent",
  "response.refusal.delta": "ResponseRefusalDeltaEvent",
  "response.refusal.done": "ResponseRefusalDoneEvent",
  "response.reasoning_text.delta": "ResponseReasoningTextDeltaEvent",
  "response.reasoning_text.done": "ResponseReasoningTextDoneEvent",
  "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
  "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
  "response.completed": "ResponseCompletedEvent",
  "response.incomplete": "ResponseIncompleteEvent",
  "response.failed": "ResponseFailedEvent",
};

function initialState(): ResponseState {
  return {
    id: "resp_test",
    createdAt: 1_700_000_000,
    completedAt: null,
    status: "in_progress",
    model: "gpt-4o-mini",
    background: false,
    store: true,
    previousResponseId: null,
    params: paramsFromRequest({ model: "gpt-4o-mini", input: "hi" } as CreateResponseRequest),
    metadata: {},
    output: [],
    usage: null,
    error: null,
    incompleteDetails: null,
  };
}

async function* fromList(events: GenerationEvent[], failAfter?: number) {
  for (const [index, event] of events.entries()) {
    if (failAfter !== undefined && index === failAfter) {
      throw new Error("upstream broke");
    }
    yield event;
  }
}

/** Runs the emitter over backend events; checks each event against the spec and the SDK. */
async function emit(
  events: GenerationEvent[],
  options: { logprobs?: LogprobsOutput; failAfter?: number } = {},
) {
  const generation = fromList(events, options.failAfter);
  const first = await generation.next();
  const logprobs = options.logprobs ?? null;
  let stored: ResponseState | null = null;
  const out: Record<string, unknown>[] = [];
  for await (const event of streamResponseEvents({
    initial: initialState(),
    first,
    generation,
    signal: new AbortController().signal,
    logprobs,
    finish: (state, generated, output) =>
      finishedState(state, generated, 1_700_000_001, { logprobs, output }),
    fail: failedState,
    onEnd: (state) => {
      stored = state;
    },
  })) {
    // What a client parses: the JSON text.
    out.push(JSON.parse(JSON.stringify(event)));
  }
  let snapshot: ReturnType<typeof accumulateResponse> | undefined;
  for (const [index, event] of out.entries()) {
    expect(event.sequence_number).toBe(index);
    const component = COMPONENT_OF[event.type as string];
    expect(component, `no component for ${String(event.type)}`).toBeDefined();
    expectMatchesComponent(component as string, event);
    snapshot = accumulateResponse(event as unknown as SdkStreamEvent, snapshot);
  }
  const last = out.at(-1) as { response: { output: unknown[] } };
  // The SDK's assembled snapshot ends as the terminal event's response says.
  expect(snapshot?.output).toEqual(last.response.output);
  return {
    events: out,
    types: out.map((event) => event.type),
    stored: stored as ResponseState | null,
  };
}

function done(generation: Omit<Generation, "usage"> & { usage?: TokenUsage }): GenerationEvent {
  return { type: "done", generation: { usage: USAGE, ...generation } };
}

describe("the Responses event stream, per item kind", () => {
  it("streams a text message as OpenAI does", async () => {
    const { types, events, stored } = await emit([
      { type: "item.start", index: 0, item: { type: "message" } },
      { type: "text.delta", index: 0, text: "Hel" },
      { type: "text.delta", index: 0, text: "lo" },
      done({
        items: [{ type: "message", parts: [{ type: "text", text: "Hello" }] }],
        finishReason: "stop",
      }),
    ]);
    expect(types).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events.at(-1)).toMatchObject({
      response: {
        status: "completed",
        output: [{ type: "message", status: "completed", content: [{ text: "Hello" }] }],
      },
    });
    expect(stored?.status).toBe("completed");
  });

  it("streams several function calls, each with its arguments and name", async () => {
    const { types, events } = await emit([
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
      done({
        items: [
          {
            type: "function_call",
            callId: "call_a",
            name: "get_weather",
            arguments: '{"city":"Paris"}',
          },
          { type: "function_call", callId: "call_b", name: "get_time", arguments: "{}" },
        ],
        finishReason: "tool_calls",
      }),
    ]);
    const call = [
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
    ];
    expect(types).toEqual([
      "response.created",
      "response.in_progress",
      ...call.slice(0, 2),
      "response.function_call_arguments.delta",
      ...call.slice(2),
      ...call,
      "response.completed",
    ]);
    const added = events.filter((event) => event.type === "response.output_item.added");
    expect(added[0]).toMatchObject({
      output_index: 0,
      item: {
        type: "function_call",
        call_id: "call_a",
        name: "get_weather",
        arguments: "",
        status: "in_progress",
      },
    });
    const argsDone = events.filter(
      (event) => event.type === "response.function_call_arguments.done",
    );
    expect(argsDone).toMatchObject([
      { output_index: 0, name: "get_weather", arguments: '{"city":"Paris"}' },
      { output_index: 1, name: "get_time", arguments: "{}" },
    ]);
    const final = events.at(-1) as {
      response: { status: string; output: Record<string, unknown>[] };
    };
    // A response of only function calls is completed: it waits for the client's outputs.
    expect(final.response.status).toBe("completed");
    expect(final.response.output).toMatchObject([
      { type: "function_call", call_id: "call_a", status: "completed" },
      { type: "function_call", call_id: "call_b", status: "completed" },
    ]);
    expect(String(final.response.output[0]?.id)).toMatch(/^fc_/);
    // The item's id is the same in every event that names it.
    expect(argsDone[0]?.item_id).toBe(final.response.output[0]?.id);
  });

  it("streams reasoning then the answer", async () => {
    const { types, events } = await emit([
      { type: "item.start", index: 0, item: { type: "reasoning" } },
      { type: "reasoning.delta", index: 0, text: "Think " },
      { type: "reasoning.delta", index: 0, text: "first." },
      { type: "item.start", index: 1, item: { type: "message" } },
      { type: "text.delta", index: 1, text: "42" },
      done({
        items: [
          { type: "reasoning", text: "Think first.", summary: [], encryptedContent: null },
          { type: "message", parts: [{ type: "text", text: "42" }] },
        ],
        finishReason: "stop",
      }),
    ]);
    expect(types.slice(2, 9)).toEqual([
      "response.output_item.added",
      "response.content_part.added",
      "response.reasoning_text.delta",
      "response.reasoning_text.delta",
      "response.reasoning_text.done",
      "response.content_part.done",
      "response.output_item.done",
    ]);
    const final = events.at(-1) as { response: { output: Record<string, unknown>[] } };
    expect(final.response.output[0]).toMatchObject({
      type: "reasoning",
      summary: [],
      content: [{ type: "reasoning_text", text: "Think first." }],
    });
    expect(String(final.response.output[0]?.id)).toMatch(/^rs_/);
    expect(final.response.output[1]).toMatchObject({ type: "message", content: [{ text: "42" }] });
  });

  it("streams a refusal part", async () => {
    const { types, events } = await emit([
      { type: "item.start", index: 0, item: { type: "message" } },
      { type: "refusal.delta", index: 0, text: "I can't " },
      { type: "refusal.delta", index: 0, text: "help with that." },
      done({
        items: [
          { type: "message", parts: [{ type: "refusal", refusal: "I can't help with that." }] },
        ],
        finishReason: "stop",
      }),
    ]);
    expect(types.slice(2, -1)).toEqual([
      "response.output_item.added",
      "response.content_part.added",
      "response.refusal.delta",
      "response.refusal.delta",
      "response.refusal.done",
      "response.content_part.done",
      "response.output_item.done",
    ]);
    expect(events.find((event) => event.type === "response.refusal.done")).toMatchObject({
      refusal: "I can't help with that.",
    });
    expect(events.at(-1)).toMatchObject({
      response: {
        output: [{ content: [{ type: "refusal", refusal: "I can't help with that." }] }],
      },
    });
  });

  it("carries logprobs when included, at most top_logprobs alternatives", async () => {
    const token = (text: string): TokenLogprob => ({
      token: text,
      logprob: -0.5,
      bytes: [...Buffer.from(text)],
      topLogprobs: [
        { token: text, logprob: -0.5, bytes: null },
        { token: "x", logprob: -2, bytes: null },
        { token: "y", logprob: -3, bytes: null },
      ],
    });
    const { events } = await emit(
      [
        { type: "item.start", index: 0, item: { type: "message" } },
        { type: "text.delta", index: 0, text: "Hi", logprobs: [token("Hi")] },
        { type: "text.delta", index: 0, text: "!", logprobs: [token("!")] },
        done({
          items: [
            {
              type: "message",
              parts: [{ type: "text", text: "Hi!", logprobs: [token("Hi"), token("!")] }],
            },
          ],
          finishReason: "stop",
        }),
      ],
      { logprobs: { topLogprobs: 2 } },
    );
    const deltas = events.filter((event) => event.type === "response.output_text.delta");
    expect(deltas[0]).toMatchObject({ logprobs: [{ token: "Hi", logprob: -0.5 }] });
    const firstLogprobs = (deltas[0]?.logprobs ?? []) as { top_logprobs: unknown[] }[];
    expect(firstLogprobs[0]?.top_logprobs).toHaveLength(2);
    // The part as first announced holds no logprobs yet: later deltas did not leak into it.
    expect(events.find((event) => event.type === "response.content_part.added")).toMatchObject({
      part: { logprobs: [] },
    });
    const final = events.at(-1) as {
      response: {
        output: { content: { logprobs: { token: string; top_logprobs: unknown[] }[] }[] }[];
      };
    };
    const logprobs = final.response.output[0]?.content[0]?.logprobs ?? [];
    expect(logprobs.map((entry) => entry.token)).toEqual(["Hi", "!"]);
    expect(logprobs.every((entry) => entry.top_logprobs.length === 2)).toBe(true);
  });

  it("leaves logprobs out when not included", async () => {
    const { events } = await emit([
      { type: "item.start", index: 0, item: { type: "message" } },
      {
        type: "text.delta",
        index: 0,
        text: "Hi",
        logprobs: [{ token: "Hi", logprob: -1, bytes: null, topLogprobs: [] }],
      },
      done({
        items: [{ type: "message", parts: [{ type: "text", text: "Hi" }] }],
        finishReason: "stop",
      }),
    ]);
    expect(events.find((event) => event.type === "response.output_text.delta")).toMatchObject({
      logprobs: [],
    });
  });

  it("ends incomplete, with the reason, when a content filter cut the output", async () => {
    const { events, stored } = await emit([
      { type: "item.start", index: 0, item: { type: "message" } },
      { type: "text.delta", index: 0, text: "Once" },
      done({
        items: [{ type: "message", parts: [{ type: "text", text: "Once" }] }],
        finishReason: "content_filter",
      }),
    ]);
    expect(events.at(-1)).toMatchObject({
      type: "response.incomplete",
      response: {
        status: "incomplete",
        incomplete_details: { reason: "content_filter" },
        output: [{ status: "incomplete" }],
      },
    });
    expect(stored?.incompleteDetails).toEqual({ reason: "content_filter" });
  });

  it("streams items a backend put only in `done`, and a native item as it came", async () => {
    const native = {
      type: "web_search_call",
      id: "ws_123",
      status: "completed",
      action: { type: "search", query: "ferry" },
    };
    const { types, events } = await emit([
      done({
        items: [
          { type: "native", native },
          { type: "function_call", callId: "call_z", name: "lookup", arguments: '{"q":1}' },
          { type: "message", parts: [{ type: "text", text: "Done." }] },
        ],
        finishReason: "stop",
      }),
    ]);
    expect(types.filter((type) => type === "response.output_item.added")).toHaveLength(3);
    expect(types).toContain("response.function_call_arguments.done");
    const final = events.at(-1) as { response: { output: Record<string, unknown>[] } };
    expect(final.response.output[0]).toEqual(native);
    expect(final.response.output[1]).toMatchObject({ call_id: "call_z", arguments: '{"q":1}' });
    expect(final.response.output[2]).toMatchObject({ content: [{ text: "Done." }] });
  });

  it("ends failed, keeping the output so far, when the backend breaks mid-item", async () => {
    const { events, stored } = await emit(
      [
        {
          type: "item.start",
          index: 0,
          item: { type: "function_call", callId: "call_q", name: "f" },
        },
        { type: "arguments.delta", index: 0, text: '{"a"' },
        done({ items: [], finishReason: "stop" }),
      ],
      { failAfter: 2 },
    );
    expect(events.at(-1)).toMatchObject({
      type: "response.failed",
      response: {
        status: "failed",
        error: { code: "server_error" },
        output: [{ type: "function_call", arguments: '{"a"', status: "incomplete" }],
      },
    });
    expect(stored?.status).toBe("failed");
  });
});
