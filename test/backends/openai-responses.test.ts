import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Backend, BackendError } from "../../src/backends/backend.js";
import { createBackendRouter } from "../../src/backends/create-backends.js";
import { describeBackends } from "../../src/backends/describe-backends.js";
import { GenerationAssembler } from "../../src/backends/generation-events.js";
import {
  DEFAULT_SAMPLING,
  type GenerateRequest,
  type GenerationEvent,
} from "../../src/backends/model-contract.js";
import { createOpenAIResponsesBackend } from "../../src/backends/openai-responses.js";
import { loadConfig } from "../../src/config.js";
import {
  type FakeUpstream,
  openAIError,
  startFakeUpstream,
  type UpstreamReply,
} from "../helpers/upstream.js";

let upstream: FakeUpstream;
let backend: Backend;

beforeEach(async () => {
  upstream = await startFakeUpstream();
  backend = createBackend(upstream.baseUrl);
});
afterEach(async () => {
  await upstream.close();
});

function createBackend(
  baseUrl: string,
  overrides: { timeoutMs?: number; maxResponseBytes?: number } = {},
) {
  return createOpenAIResponsesBackend({
    name: "openai-native",
    baseUrl,
    apiKey: "sk-upstream",
    timeoutMs: overrides.timeoutMs ?? 5_000,
    ...(overrides.maxResponseBytes === undefined
      ? {}
      : { maxResponseBytes: overrides.maxResponseBytes }),
  });
}

// What a client sends through ferry: every field a native upstream must get as it was.
const encryptedReasoning = {
  type: "reasoning",
  id: "rs_prev",
  summary: [{ type: "summary_text", text: "Looked up the weather." }],
  encrypted_content: "gAAAAB-previous-turn",
};
const clientBody = {
  model: "gpt-5-public",
  input: [
    { role: "user", content: [{ type: "input_text", text: "Weather in Paris?" }] },
    encryptedReasoning,
    {
      type: "message",
      role: "assistant",
      id: "msg_prev",
      content: [{ type: "output_text", text: "Sunny.", annotations: [] }],
    },
    { role: "user", content: "And tomorrow?" },
  ],
  tools: [
    { type: "web_search", search_context_size: "low" },
    {
      type: "function",
      name: "get_forecast",
      description: "Forecast for a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
      strict: true,
    },
  ],
  tool_choice: "auto",
  reasoning: { effort: "low", summary: "auto" },
  include: ["web_search_call.action.sources"],
  metadata: { mock_error: "none", trace: "t-1" },
  previous_response_id: "resp_ferry_123",
  store: true,
  background: true,
  stream_options: { include_obfuscation: false },
  text: { verbosity: "low" },
  max_output_tokens: 500,
  truncation: "auto",
};

function request(overrides: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    model: "gpt-5-upstream",
    messages: [{ role: "user", content: [{ type: "text", text: "And tomorrow?" }] }],
    tools: [],
    toolChoice: { type: "auto" },
    parallelToolCalls: true,
    outputFormat: { type: "text" },
    sampling: DEFAULT_SAMPLING,
    maxOutputTokens: 500,
    reasoningEffort: "low",
    user: null,
    metadata: { mock_error: "none", trace: "t-1" },
    responsesBody: clientBody,
    ...overrides,
  };
}

// The items of an upstream answer, as OpenAI writes them.
const reasoningItem = {
  id: "rs_1",
  type: "reasoning",
  summary: [
    { type: "summary_text", text: "Search first." },
    { type: "summary_text", text: "Then answer." },
  ],
  content: [{ type: "reasoning_text", text: "I should search the web." }],
  encrypted_content: "gAAAAB-this-turn",
};
const webSearchItem = {
  id: "ws_1",
  type: "web_search_call",
  status: "completed",
  action: {
    type: "search",
    query: "Paris weather tomorrow",
    sources: [{ type: "url", url: "https://example.com/w" }],
  },
};
const functionCallItem = {
  id: "fc_1",
  type: "function_call",
  status: "completed",
  call_id: "call_abc",
  name: "get_forecast",
  arguments: '{"city":"Paris"}',
};
const logprobs = [
  {
    token: "Rain",
    logprob: -0.25,
    bytes: [82, 97, 105, 110],
    top_logprobs: [{ token: "Rain", logprob: -0.25, bytes: [82, 97, 105, 110] }],
  },
];
const messageItem = {
  id: "msg_1",
  type: "message",
  status: "completed",
  role: "assistant",
  content: [
    {
      type: "output_text",
      text: "Rain, says https://example.com/w.",
      annotations: [
        {
          type: "url_citation",
          start_index: 12,
          end_index: 32,
          url: "https://example.com/w",
          title: "W",
        },
      ],
      logprobs,
    },
  ],
};
const refusalItem = {
  id: "msg_2",
  type: "message",
  status: "completed",
  role: "assistant",
  content: [{ type: "refusal", refusal: "I can't help with that." }],
};
const usage = {
  input_tokens: 120,
  input_tokens_details: { cached_tokens: 64 },
  output_tokens: 80,
  output_tokens_details: { reasoning_tokens: 32 },
  total_tokens: 200,
};

function responseObject(output: object[], extra: Record<string, unknown> = {}) {
  return {
    id: "resp_upstream_1",
    object: "response",
    created_at: 1_704_067_200,
    status: "completed",
    model: "gpt-5-upstream",
    output,
    usage,
    error: null,
    incomplete_details: null,
    ...extra,
  };
}

/** An SSE body as OpenAI writes it: an `event:` line naming the type, then its `data:`. */
function sseReply(events: object[]): UpstreamReply {
  let sequence = 0;
  const text = events
    .map((event) => {
      const data = { ...event, sequence_number: sequence++ };
      return `event: ${(event as { type: string }).type}\ndata: ${JSON.stringify(data)}\n\n`;
    })
    .join("");
  return { kind: "text", body: text, headers: { "content-type": "text/event-stream" } };
}

const never = () => new AbortController().signal;

async function collect(events: AsyncIterable<GenerationEvent>): Promise<GenerationEvent[]> {
  const seen: GenerationEvent[] = [];
  for await (const event of events) {
    seen.push(event);
  }
  return seen;
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (thrown) {
    return thrown;
  }
  throw new Error("expected a rejection");
}

async function backendErrorOf(promise: Promise<unknown>): Promise<BackendError> {
  const thrown = await rejectionOf(promise);
  expect(thrown).toBeInstanceOf(BackendError);
  return thrown as BackendError;
}

/** Checks the contract's ordering rules by assembling every event but `done`. */
function assembleEvents(events: GenerationEvent[]) {
  const assembler = new GenerationAssembler();
  for (const event of events) {
    if (event.type !== "done") {
      assembler.push(event);
    }
  }
  return assembler;
}

describe("the request", () => {
  it("forwards the client's body intact, changing only model, stream, store, background and include", async () => {
    upstream.setHandler(() => ({ kind: "json", body: responseObject([messageItem]) }));
    await backend.generate(request(), never());

    const sent = upstream.requests[0];
    expect(sent?.method).toBe("POST");
    expect(sent?.path).toBe("/v1/responses");
    expect(sent?.headers.authorization).toBe("Bearer sk-upstream");
    const { previous_response_id, stream_options, ...rest } = clientBody;
    expect(sent?.body).toEqual({
      ...rest,
      model: "gpt-5-upstream",
      stream: false,
      store: false,
      background: false,
      include: ["web_search_call.action.sources", "reasoning.encrypted_content"],
    });
    // The mock's knobs are the upstream's business, whatever it is (another ferry reads them).
    expect(sent?.body).toHaveProperty("metadata", { mock_error: "none", trace: "t-1" });
  });

  it("streams with stream: true and keeps stream_options, and does not repeat an include", async () => {
    upstream.setHandler(() =>
      sseReply([{ type: "response.completed", response: responseObject([]) }]),
    );
    const body = {
      ...clientBody,
      include: ["reasoning.encrypted_content"],
      conversation: "conv_1",
    };
    await collect(backend.streamGenerate(request({ responsesBody: body }), never()));

    const sent = upstream.requests[0]?.body as Record<string, unknown>;
    expect(upstream.requests[0]?.headers.accept).toBe("text/event-stream");
    expect(sent.stream).toBe(true);
    expect(sent.stream_options).toEqual({ include_obfuscation: false });
    expect(sent.include).toEqual(["reasoning.encrypted_content"]);
    expect(sent).not.toHaveProperty("conversation");
    expect(sent).not.toHaveProperty("previous_response_id");
  });

  it("writes a Responses body from the contract for a request from another surface", async () => {
    upstream.setHandler(() => ({ kind: "json", body: responseObject([messageItem]) }));
    const chat: GenerateRequest = {
      model: "gpt-5-upstream",
      messages: [
        { role: "system", content: [{ type: "text", text: "Be brief." }] },
        {
          role: "user",
          content: [
            { type: "text", text: "Weather here?" },
            { type: "image", url: "data:image/png;base64,iVBOR", detail: "low" },
            { type: "file", data: "data:application/pdf;base64,JVBER", filename: "w.pdf" },
          ],
        },
        {
          role: "assistant",
          content: [{ type: "text", text: "Let me look." }],
          toolCalls: [{ id: "call_1", name: "get_forecast", arguments: '{"city":"Paris"}' }],
          reasoning: "thinking out loud",
        },
        { role: "tool", toolCallId: "call_1", content: [{ type: "text", text: '{"sky":"rain"}' }] },
      ],
      tools: [
        {
          type: "function",
          name: "get_forecast",
          description: "Forecast",
          parameters: { type: "object", properties: { city: { type: "string" } } },
          strict: false,
        },
      ],
      toolChoice: { type: "allowed", mode: "required", names: ["get_forecast"] },
      parallelToolCalls: false,
      outputFormat: {
        type: "json_schema",
        name: "weather",
        schema: { type: "object" },
        strict: true,
        description: null,
      },
      sampling: {
        ...DEFAULT_SAMPLING,
        temperature: 0.3,
        topP: 0.9,
        logprobs: true,
        topLogprobs: 2,
      },
      maxOutputTokens: 100,
      reasoningEffort: "minimal",
      user: "user-42",
      metadata: { trace: "t-2" },
    };
    await backend.generate(chat, never());

    expect(upstream.requests[0]?.body).toEqual({
      model: "gpt-5-upstream",
      input: [
        { role: "system", content: [{ type: "input_text", text: "Be brief." }] },
        {
          role: "user",
          content: [
            { type: "input_text", text: "Weather here?" },
            { type: "input_image", image_url: "data:image/png;base64,iVBOR", detail: "low" },
            {
              type: "input_file",
              file_data: "data:application/pdf;base64,JVBER",
              filename: "w.pdf",
            },
          ],
        },
        {
          type: "message",
          role: "assistant",
          content: [{ type: "output_text", text: "Let me look.", annotations: [] }],
        },
        {
          type: "function_call",
          call_id: "call_1",
          name: "get_forecast",
          arguments: '{"city":"Paris"}',
        },
        { type: "function_call_output", call_id: "call_1", output: '{"sky":"rain"}' },
      ],
      tools: [
        {
          type: "function",
          name: "get_forecast",
          description: "Forecast",
          parameters: { type: "object", properties: { city: { type: "string" } } },
          strict: false,
        },
      ],
      tool_choice: {
        type: "allowed_tools",
        mode: "required",
        tools: [{ type: "function", name: "get_forecast" }],
      },
      parallel_tool_calls: false,
      text: {
        format: { type: "json_schema", name: "weather", schema: { type: "object" }, strict: true },
      },
      temperature: 0.3,
      top_p: 0.9,
      include: ["message.output_text.logprobs", "reasoning.encrypted_content"],
      top_logprobs: 2,
      max_output_tokens: 100,
      reasoning: { effort: "minimal" },
      safety_identifier: "user-42",
      metadata: { trace: "t-2" },
      stream: false,
      background: false,
      store: false,
    });
  });

  it.each([
    ["seed", { seed: 7 }],
    ["stop", { stop: ["\n"] }],
    ["frequency_penalty", { frequencyPenalty: 0.5 }],
    ["logit_bias", { logitBias: { "50256": -100 } }],
  ] as const)(
    "refuses %s, which the Responses API lacks, with a 400 naming it",
    async (param, set) => {
      const { responsesBody, ...chat } = request({ sampling: { ...DEFAULT_SAMPLING, ...set } });
      void responsesBody;
      const err = await backendErrorOf(backend.generate(chat, never()));
      expect(err.status).toBe(400);
      expect(err.param).toBe(param);
      expect(err.message).toContain(`'${param}' is not supported`);
      expect(err.retryable).toBe(false);
      const streamed = await backendErrorOf(collect(backend.streamGenerate(chat, never())));
      expect(streamed.param).toBe(param);
      expect(upstream.requests).toHaveLength(0);
    },
  );
});

describe("generate", () => {
  it("maps every output item, keeping each exactly as received in native", async () => {
    const output = [reasoningItem, webSearchItem, messageItem, functionCallItem];
    upstream.setHandler(() => ({ kind: "json", body: responseObject(output) }));
    const generation = await backend.generate(request(), never());

    expect(generation.items).toEqual([
      {
        type: "reasoning",
        text: "I should search the web.",
        summary: ["Search first.", "Then answer."],
        encryptedContent: "gAAAAB-this-turn",
        native: reasoningItem,
      },
      { type: "native", native: webSearchItem },
      {
        type: "message",
        parts: [
          {
            type: "text",
            text: "Rain, says https://example.com/w.",
            logprobs: [
              {
                token: "Rain",
                logprob: -0.25,
                bytes: [82, 97, 105, 110],
                topLogprobs: [{ token: "Rain", logprob: -0.25, bytes: [82, 97, 105, 110] }],
              },
            ],
          },
        ],
        native: messageItem,
      },
      {
        type: "function_call",
        callId: "call_abc",
        name: "get_forecast",
        arguments: '{"city":"Paris"}',
        native: functionCallItem,
      },
    ]);
    expect(generation.finishReason).toBe("tool_calls");
    expect(generation.usage).toEqual({
      inputTokens: 120,
      outputTokens: 80,
      cachedInputTokens: 64,
      reasoningTokens: 32,
    });
  });

  it("maps a refusal part and finishes with stop", async () => {
    upstream.setHandler(() => ({ kind: "json", body: responseObject([refusalItem]) }));
    const generation = await backend.generate(request(), never());
    expect(generation.items).toEqual([
      {
        type: "message",
        parts: [{ type: "refusal", refusal: "I can't help with that." }],
        native: refusalItem,
      },
    ]);
    expect(generation.finishReason).toBe("stop");
  });

  it.each([
    ["max_output_tokens", "length"],
    ["content_filter", "content_filter"],
  ] as const)("maps incomplete because of %s to %s", async (reason, finishReason) => {
    upstream.setHandler(() => ({
      kind: "json",
      body: responseObject([messageItem], { status: "incomplete", incomplete_details: { reason } }),
    }));
    expect((await backend.generate(request(), never())).finishReason).toBe(finishReason);
  });

  it("falls back to zero usage when the upstream reports none", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      body: responseObject([messageItem], { usage: null }),
    }));
    expect((await backend.generate(request(), never())).usage).toEqual({
      inputTokens: 0,
      outputTokens: 0,
      cachedInputTokens: 0,
      reasoningTokens: 0,
    });
  });

  it("throws the upstream's message for a failed response, retryable only for server errors", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      body: responseObject([], {
        status: "failed",
        error: { code: "server_error", message: "The model crashed." },
      }),
    }));
    const crashed = await backendErrorOf(backend.generate(request(), never()));
    expect(crashed.message).toBe("The model crashed.");
    expect(crashed.code).toBe("server_error");
    expect(crashed.retryable).toBe(true);

    upstream.setHandler(() => ({
      kind: "json",
      body: responseObject([], {
        status: "failed",
        error: { code: "invalid_image", message: "The image is not an image." },
      }),
    }));
    const invalid = await backendErrorOf(backend.generate(request(), never()));
    expect(invalid.message).toBe("The image is not an image.");
    expect(invalid.retryable).toBe(false);
  });

  it("throws a 502 for a function call without its call_id", async () => {
    const { call_id, ...broken } = functionCallItem;
    void call_id;
    upstream.setHandler(() => ({ kind: "json", body: responseObject([broken]) }));
    const err = await backendErrorOf(backend.generate(request(), never()));
    expect(err.status).toBe(502);
    expect(err.message).toContain("output[0] (function_call)");
  });

  it("throws a 502 for a 200 that is not a Response", async () => {
    upstream.setHandler(() => ({ kind: "json", body: { choices: [] } }));
    const err = await backendErrorOf(backend.generate(request(), never()));
    expect(err.status).toBe(502);
    expect(err.message).toContain("not an OpenAI Responses response");
  });
});

describe("errors", () => {
  it("carries a 4xx's status, message, param and code, and does not retry it", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      status: 400,
      body: openAIError("Invalid value: 'web_serch'. Supported values are: 'web_search'.", {
        param: "tools[0].type",
        code: "invalid_value",
      }),
    }));
    const err = await backendErrorOf(backend.generate(request(), never()));
    expect(err.status).toBe(400);
    expect(err.message).toBe("Invalid value: 'web_serch'. Supported values are: 'web_search'.");
    expect(err.param).toBe("tools[0].type");
    expect(err.code).toBe("invalid_value");
    expect(err.type).toBe("invalid_request_error");
    expect(err.retryable).toBe(false);
  });

  it("maps a 429 with Retry-After to a retryable error with retryAfterMs, streamed too", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      status: 429,
      headers: { "retry-after": "7" },
      body: openAIError("Rate limit reached for requests", {
        type: "requests",
        code: "rate_limit_exceeded",
      }),
    }));
    for (const call of [
      () => backend.generate(request(), never()),
      () => collect(backend.streamGenerate(request(), never())),
    ]) {
      const err = await backendErrorOf(call());
      expect(err.status).toBe(429);
      expect(err.retryable).toBe(true);
      expect(err.retryAfterMs).toBe(7_000);
      expect(err.code).toBe("rate_limit_exceeded");
    }
  });

  it("reports an unreachable upstream as a retryable connection error", async () => {
    const closed = createBackend("http://127.0.0.1:9/v1");
    const err = await backendErrorOf(closed.generate(request(), never()));
    expect(err.status).toBeNull();
    expect(err.retryable).toBe(true);
    expect(err.code).toBe("connection_error");
  });

  it("rethrows the caller's abort reason unchanged and closes the upstream request", async () => {
    upstream.setHandler(() => ({ kind: "hang" }));
    const controller = new AbortController();
    const reason = new Error("client went away");
    const pending = backend.generate(request(), controller.signal);
    await upstream.waitForRequests(1);
    controller.abort(reason);
    expect(await rejectionOf(pending)).toBe(reason);
    expect(await upstream.requests[0]?.ended).toBe("closed");
  });
});

// A stream as OpenAI sends it: reasoning (text and summary deltas), a web search, a message with
// logprobs, a function call.
const streamedOutput = [reasoningItem, webSearchItem, messageItem, functionCallItem];
function fullStream(): object[] {
  return [
    {
      type: "response.created",
      response: responseObject([], { status: "in_progress", usage: null }),
    },
    {
      type: "response.in_progress",
      response: responseObject([], { status: "in_progress", usage: null }),
    },
    {
      type: "response.output_item.added",
      output_index: 0,
      item: { id: "rs_1", type: "reasoning", summary: [] },
    },
    {
      type: "response.reasoning_summary_part.added",
      output_index: 0,
      item_id: "rs_1",
      summary_index: 0,
      part: { type: "summary_text", text: "" },
    },
    {
      type: "response.reasoning_summary_text.delta",
      output_index: 0,
      item_id: "rs_1",
      summary_index: 0,
      delta: "Search first.",
    },
    {
      type: "response.reasoning_text.delta",
      output_index: 0,
      item_id: "rs_1",
      content_index: 0,
      delta: "I should ",
    },
    {
      type: "response.reasoning_text.delta",
      output_index: 0,
      item_id: "rs_1",
      content_index: 0,
      delta: "search the web.",
    },
    { type: "response.output_item.done", output_index: 0, item: reasoningItem },
    {
      type: "response.output_item.added",
      output_index: 1,
      item: { id: "ws_1", type: "web_search_call", status: "in_progress" },
    },
    { type: "response.web_search_call.in_progress", output_index: 1, item_id: "ws_1" },
    { type: "response.web_search_call.searching", output_index: 1, item_id: "ws_1" },
    { type: "response.web_search_call.completed", output_index: 1, item_id: "ws_1" },
    { type: "response.output_item.done", output_index: 1, item: webSearchItem },
    {
      type: "response.output_item.added",
      output_index: 2,
      item: { id: "msg_1", type: "message", status: "in_progress", role: "assistant", content: [] },
    },
    {
      type: "response.content_part.added",
      output_index: 2,
      item_id: "msg_1",
      content_index: 0,
      part: { type: "output_text", text: "", annotations: [] },
    },
    {
      type: "response.output_text.delta",
      output_index: 2,
      item_id: "msg_1",
      content_index: 0,
      delta: "Rain",
      logprobs,
    },
    {
      type: "response.output_text.delta",
      output_index: 2,
      item_id: "msg_1",
      content_index: 0,
      delta: ", says https://example.com/w.",
      logprobs: [],
    },
    {
      type: "response.output_text.annotation.added",
      output_index: 2,
      item_id: "msg_1",
      content_index: 0,
      annotation_index: 0,
      annotation: messageItem.content[0]?.annotations[0],
    },
    {
      type: "response.output_text.done",
      output_index: 2,
      item_id: "msg_1",
      content_index: 0,
      text: "Rain, says https://example.com/w.",
    },
    { type: "response.output_item.done", output_index: 2, item: messageItem },
    {
      type: "response.output_item.added",
      output_index: 3,
      item: { ...functionCallItem, status: "in_progress", arguments: "" },
    },
    {
      type: "response.function_call_arguments.delta",
      output_index: 3,
      item_id: "fc_1",
      delta: '{"city":',
    },
    {
      type: "response.function_call_arguments.delta",
      output_index: 3,
      item_id: "fc_1",
      delta: '"Paris"}',
    },
    {
      type: "response.function_call_arguments.done",
      output_index: 3,
      item_id: "fc_1",
      arguments: '{"city":"Paris"}',
    },
    { type: "response.output_item.done", output_index: 3, item: functionCallItem },
    { type: "response.completed", response: responseObject(streamedOutput) },
  ];
}

describe("streamGenerate", () => {
  it("turns Responses events into item starts and deltas, and ends with the whole generation", async () => {
    upstream.setHandler(() => sseReply(fullStream()));
    const events = await collect(backend.streamGenerate(request(), never()));

    expect(events.slice(0, -1)).toEqual([
      { type: "item.start", index: 0, item: { type: "reasoning" } },
      { type: "reasoning.delta", index: 0, text: "I should " },
      { type: "reasoning.delta", index: 0, text: "search the web." },
      {
        type: "item.start",
        index: 1,
        // Announced once done, whole: the contract has nothing else of it before `done`.
        item: { type: "native", native: webSearchItem },
      },
      { type: "item.start", index: 2, item: { type: "message" } },
      {
        type: "text.delta",
        index: 2,
        text: "Rain",
        logprobs: [
          {
            token: "Rain",
            logprob: -0.25,
            bytes: [82, 97, 105, 110],
            topLogprobs: [{ token: "Rain", logprob: -0.25, bytes: [82, 97, 105, 110] }],
          },
        ],
      },
      { type: "text.delta", index: 2, text: ", says https://example.com/w." },
      {
        type: "item.start",
        index: 3,
        item: { type: "function_call", callId: "call_abc", name: "get_forecast" },
      },
      { type: "arguments.delta", index: 3, text: '{"city":' },
      { type: "arguments.delta", index: 3, text: '"Paris"}' },
    ]);
    const done = events.at(-1);
    expect(done?.type).toBe("done");
    // The generation the sync call would give, native items whole (the search with its results).
    upstream.setHandler(() => ({ kind: "json", body: responseObject(streamedOutput) }));
    const whole = await backend.generate(request(), never());
    expect(done).toEqual({ type: "done", generation: whole });
    expect(whole.items[1]).toEqual({ type: "native", native: webSearchItem });

    // The events follow the contract's ordering rules, and assemble to the same text.
    const assembled = assembleEvents(events).finish("tool_calls", whole.usage);
    expect(assembled.items.map((item) => item.type)).toEqual(whole.items.map((item) => item.type));
    expect(assembled.items[3]).toMatchObject({ arguments: '{"city":"Paris"}' });
  });

  it("streams a refusal as refusal deltas", async () => {
    upstream.setHandler(() =>
      sseReply([
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { id: "msg_2", type: "message", role: "assistant", content: [] },
        },
        {
          type: "response.refusal.delta",
          output_index: 0,
          item_id: "msg_2",
          content_index: 0,
          delta: "I can't ",
        },
        {
          type: "response.refusal.delta",
          output_index: 0,
          item_id: "msg_2",
          content_index: 0,
          delta: "help with that.",
        },
        { type: "response.completed", response: responseObject([refusalItem]) },
      ]),
    );
    const events = await collect(backend.streamGenerate(request(), never()));
    expect(events.slice(1, 3)).toEqual([
      { type: "refusal.delta", index: 0, text: "I can't " },
      { type: "refusal.delta", index: 0, text: "help with that." },
    ]);
    expect(events.at(-1)).toMatchObject({ type: "done", generation: { finishReason: "stop" } });
  });

  it("ends an incomplete response with done and finish reason length", async () => {
    upstream.setHandler(() =>
      sseReply([
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { id: "msg_1", type: "message", role: "assistant", content: [] },
        },
        { type: "response.output_text.delta", output_index: 0, content_index: 0, delta: "Rain" },
        {
          type: "response.incomplete",
          response: responseObject([messageItem], {
            status: "incomplete",
            incomplete_details: { reason: "max_output_tokens" },
          }),
        },
      ]),
    );
    const events = await collect(backend.streamGenerate(request(), never()));
    expect(events.at(-1)).toMatchObject({ type: "done", generation: { finishReason: "length" } });
  });

  it("announces items the final response lists but the stream never added", async () => {
    upstream.setHandler(() =>
      sseReply([
        { type: "response.completed", response: responseObject([webSearchItem, messageItem]) },
      ]),
    );
    const events = await collect(backend.streamGenerate(request(), never()));
    expect(events.map((event) => event.type)).toEqual([
      "item.start",
      "item.start",
      "text.delta",
      "done",
    ]);
    expect(events[0]).toEqual({
      type: "item.start",
      index: 0,
      item: { type: "native", native: webSearchItem },
    });
    assembleEvents(events);
  });

  it("reads past a delta for an item it holds whole as native", async () => {
    const customCall = {
      id: "ctc_1",
      type: "custom_tool_call",
      call_id: "call_c",
      name: "sql",
      input: "SELECT 1",
    };
    upstream.setHandler(() =>
      sseReply([
        { type: "response.output_item.added", output_index: 0, item: { ...customCall, input: "" } },
        { type: "response.function_call_arguments.delta", output_index: 0, delta: "SELECT 1" },
        { type: "response.completed", response: responseObject([customCall]) },
      ]),
    );
    const events = await collect(backend.streamGenerate(request(), never()));
    expect(events).toEqual([
      {
        type: "item.start",
        index: 0,
        // Never done in the stream: announced whole from the final response.
        item: { type: "native", native: customCall },
      },
      {
        type: "done",
        generation: expect.objectContaining({ items: [{ type: "native", native: customCall }] }),
      },
    ]);
  });

  it("takes the items from output_item.done when the final response lists none, past a [DONE]", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { id: "ws_1", type: "web_search_call" },
        },
        { type: "response.output_item.done", output_index: 0, item: webSearchItem },
        { type: "response.completed", response: responseObject([]) },
      ],
      end: "done",
    }));
    const events = await collect(backend.streamGenerate(request(), never()));
    expect(events.at(-1)).toMatchObject({
      type: "done",
      generation: { items: [{ type: "native", native: webSearchItem }], finishReason: "stop" },
    });
  });

  it("rethrows the caller's abort mid-stream and closes the upstream request", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { id: "msg_1", type: "message", content: [] },
        },
      ],
      end: "hang",
    }));
    const controller = new AbortController();
    const reason = new Error("client went away");
    const thrown = await rejectionOf(
      (async () => {
        for await (const event of backend.streamGenerate(request(), controller.signal)) {
          expect(event.type).toBe("item.start");
          controller.abort(reason);
        }
      })(),
    );
    expect(thrown).toBe(reason);
    expect(await upstream.requests[0]?.ended).toBe("closed");
  });

  it("announces a native item as it began when the next item begins before it is done", async () => {
    upstream.setHandler(() =>
      sseReply([
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { id: "ws_1", type: "web_search_call" },
        },
        {
          type: "response.output_item.added",
          output_index: 1,
          item: { id: "msg_1", type: "message", content: [] },
        },
        { type: "response.output_text.delta", output_index: 1, content_index: 0, delta: "Rain" },
        { type: "response.completed", response: responseObject([webSearchItem, messageItem]) },
      ]),
    );
    const events = await collect(backend.streamGenerate(request(), never()));
    expect(events.slice(0, 3)).toEqual([
      {
        type: "item.start",
        index: 0,
        item: { type: "native", native: { id: "ws_1", type: "web_search_call" } },
      },
      { type: "item.start", index: 1, item: { type: "message" } },
      { type: "text.delta", index: 1, text: "Rain" },
    ]);
    expect(events).toHaveLength(4);
  });

  it("throws the upstream's message on response.failed", async () => {
    upstream.setHandler(() =>
      sseReply([
        { type: "response.created", response: responseObject([], { status: "in_progress" }) },
        {
          type: "response.failed",
          response: responseObject([], {
            status: "failed",
            error: { code: "server_error", message: "The model crashed mid-answer." },
          }),
        },
      ]),
    );
    const err = await backendErrorOf(collect(backend.streamGenerate(request(), never())));
    expect(err.message).toBe("The model crashed mid-answer.");
    expect(err.code).toBe("server_error");
  });

  it("throws the upstream's message and code on an error event, not retried", async () => {
    upstream.setHandler(() =>
      sseReply([
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { id: "msg_1", type: "message", content: [] },
        },
        {
          type: "error",
          code: "context_length_exceeded",
          message: "Your input exceeds the context window.",
          param: "input",
        },
      ]),
    );
    const seen: GenerationEvent[] = [];
    const err = await backendErrorOf(
      (async () => {
        for await (const event of backend.streamGenerate(request(), never())) {
          seen.push(event);
        }
      })(),
    );
    expect(seen).toEqual([{ type: "item.start", index: 0, item: { type: "message" } }]);
    expect(err.message).toBe("Your input exceeds the context window.");
    expect(err.code).toBe("context_length_exceeded");
    expect(err.param).toBe("input");
    expect(err.retryable).toBe(false);
  });

  it("throws a retryable error when the body ends before response.completed", async () => {
    upstream.setHandler(() =>
      sseReply([
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { id: "msg_1", type: "message", content: [] },
        },
        { type: "response.output_text.delta", output_index: 0, content_index: 0, delta: "Rai" },
      ]),
    );
    const err = await backendErrorOf(collect(backend.streamGenerate(request(), never())));
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("before response.completed");
  });

  it("throws a 502 for a frame that is not JSON, or not an event", async () => {
    for (const frame of ["<html>Bad gateway</html>", { delta: "no type" }]) {
      upstream.setHandler(() => ({ kind: "sse", frames: [frame], end: "eof" }));
      const err = await backendErrorOf(collect(backend.streamGenerate(request(), never())));
      expect(err.status).toBe(502);
      expect(err.message).toContain("not an OpenAI Responses stream event");
    }
  });

  it("throws a 502 for a delta that goes back to an earlier item", async () => {
    upstream.setHandler(() =>
      sseReply([
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { id: "msg_1", type: "message", content: [] },
        },
        { type: "response.output_item.added", output_index: 1, item: functionCallItem },
        { type: "response.output_text.delta", output_index: 0, content_index: 0, delta: "late" },
      ]),
    );
    const err = await backendErrorOf(collect(backend.streamGenerate(request(), never())));
    expect(err.status).toBe(502);
    expect(err.message).toContain("not the open item");
  });

  it("handles an upstream that ignores stream: true and answers JSON", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      body: responseObject([webSearchItem, messageItem]),
    }));
    const events = await collect(backend.streamGenerate(request(), never()));
    expect(events.map((event) => event.type)).toEqual([
      "item.start",
      "item.start",
      "text.delta",
      "done",
    ]);
    expect(events.at(-1)).toMatchObject({
      type: "done",
      generation: { items: [{ type: "native", native: webSearchItem }, { native: messageItem }] },
    });
  });

  it("times out on silence mid-stream with a retryable timeout", async () => {
    const impatient = createBackend(upstream.baseUrl, { timeoutMs: 200 });
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { id: "msg_1", type: "message", content: [] },
        },
      ],
      end: "hang",
    }));
    const err = await backendErrorOf(collect(impatient.streamGenerate(request(), never())));
    expect(err.code).toBe("timeout");
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("mid-stream");
  });

  it("stops reading past max_response_bytes", async () => {
    const capped = createBackend(upstream.baseUrl, { maxResponseBytes: 2048 });
    const deltas = Array.from({ length: 40 }, () => ({
      type: "response.output_text.delta",
      output_index: 0,
      content_index: 0,
      delta: "x".repeat(100),
    }));
    upstream.setHandler(() =>
      sseReply([
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { id: "msg_1", type: "message", content: [] },
        },
        ...deltas,
        { type: "response.completed", response: responseObject([messageItem]) },
      ]),
    );
    const err = await backendErrorOf(collect(capped.streamGenerate(request(), never())));
    expect(err.status).toBe(502);
    expect(err.message).toContain("max_response_bytes");
    expect(err.retryable).toBe(false);
  });

  it("closes the upstream request when the consumer stops early", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { id: "msg_1", type: "message", content: [] },
        },
      ],
      end: "hang",
    }));
    for await (const event of backend.streamGenerate(request(), never())) {
      expect(event.type).toBe("item.start");
      break;
    }
    expect(await upstream.requests[0]?.ended).toBe("closed");
  });
});

describe("embed", () => {
  it("posts /embeddings as the Chat backend does", async () => {
    const result = await backend.embed(
      { model: "text-embedding-3-small", inputs: ["a", "b"], dimensions: 2 },
      never(),
    );
    expect(upstream.requests[0]?.path).toBe("/v1/embeddings");
    expect(upstream.requests[0]?.body).toMatchObject({
      model: "text-embedding-3-small",
      dimensions: 2,
    });
    expect(result.vectors.map((vector) => [...vector])).toEqual([
      [0, 0.125],
      [1, 1.125],
    ]);
  });
});

describe("config", () => {
  it('builds a backend of type "openai-responses" from the config file, with the openai options', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ferry-native-config-"));
    const file = path.join(dir, "ferry.json");
    writeFileSync(
      file,
      JSON.stringify({
        backends: [
          {
            name: "openai",
            type: "openai-responses",
            base_url: upstream.baseUrl,
            api_key_env: "NATIVE_KEY",
            models: ["gpt-5"],
            aliases: { "gpt-5-public": "gpt-5" },
            max_concurrency: 3,
            timeout_ms: 4000,
            headers: { "openai-organization": "org-1" },
            max_response_bytes: 1_000_000,
            deadline_ms: 60_000,
          },
        ],
      }),
    );
    const config = loadConfig({ FERRY_CONFIG: file, NATIVE_KEY: "sk-native" });
    expect(config.backends).toEqual([
      {
        type: "openai-responses",
        name: "openai",
        baseUrl: upstream.baseUrl,
        apiKey: "sk-native",
        models: ["gpt-5"],
        aliases: { "gpt-5-public": "gpt-5" },
        maxConcurrency: 3,
        adaptiveConcurrency: true,
        interactiveReserve: 0.125,
        timeoutMs: 4000,
        headers: { "openai-organization": "org-1" },
        contextTokens: {},
        maxResponseBytes: 1_000_000,
        deadlineMs: 60_000,
      },
    ]);
    expect(describeBackends(config.backends)).toEqual([
      `openai: openai-responses at ${upstream.baseUrl} (gpt-5, gpt-5-public -> gpt-5)`,
    ]);

    const router = createBackendRouter(config);
    const resolved = router.resolve("gpt-5-public");
    // What tells the Responses surface it may pass built-in tools on, through every wrapper.
    expect(resolved?.backend.native).toBe("responses");
    expect(router.resolve("gpt-5")?.backend.native).toBe("responses");
    upstream.setHandler(() => ({ kind: "json", body: responseObject([messageItem]) }));
    await resolved?.backend.generate(request({ model: resolved.upstreamModel }), never());
    expect(upstream.requests[0]?.path).toBe("/v1/responses");
    expect(upstream.requests[0]?.headers["openai-organization"]).toBe("org-1");
    expect(upstream.requests[0]?.headers.authorization).toBe("Bearer sk-native");
    expect(upstream.requests[0]?.body).toMatchObject({ model: "gpt-5" });
  });
});
