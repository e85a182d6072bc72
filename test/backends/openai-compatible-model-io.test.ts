import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type Backend,
  BackendError,
  type GenerateRequest,
  type GenerationEvent,
} from "../../src/backends/backend.js";
import { GenerationAssembler } from "../../src/backends/generation-events.js";
import { DEFAULT_SAMPLING } from "../../src/backends/model-contract.js";
import { createOpenAICompatibleBackend } from "../../src/backends/openai-compatible.js";
import { generateRequest } from "../helpers/generate-request.js";
import {
  chatCompletionOf,
  chunkOf,
  type FakeUpstream,
  startFakeUpstream,
  usageChunk,
} from "../helpers/upstream.js";

/**
 * Every field of the model contract, both ways, through a real HTTP fake upstream: what ferry
 * sends a Chat Completions (or legacy Completions) server, and how each shape of its answer,
 * whole and streamed, comes back as items.
 */

let upstream: FakeUpstream;
let backend: Backend;

beforeEach(async () => {
  upstream = await startFakeUpstream();
  backend = createOpenAICompatibleBackend({
    name: "local-vllm",
    baseUrl: upstream.baseUrl,
    apiKey: null,
    timeoutMs: 5_000,
  });
});
afterEach(async () => {
  await upstream.close();
});

const never = () => new AbortController().signal;

async function collect(events: AsyncIterable<GenerationEvent>): Promise<GenerationEvent[]> {
  const seen: GenerationEvent[] = [];
  for await (const event of events) {
    seen.push(event);
  }
  return seen;
}

/**
 * Checks the contract's ordering rules (GenerationAssembler throws on a violation) and that the
 * streamed events assemble into exactly the generation `done` carries.
 */
function expectWellOrdered(events: readonly GenerationEvent[]) {
  const assembler = new GenerationAssembler();
  const done = events.at(-1);
  expect(done?.type).toBe("done");
  expect(events.filter((event) => event.type === "done")).toHaveLength(1);
  for (const event of events.slice(0, -1)) {
    if (event.type === "done") {
      throw new Error("done before the end");
    }
    assembler.push(event);
  }
  if (done?.type !== "done") {
    throw new Error("no done");
  }
  expect(assembler.finish(done.generation.finishReason, done.generation.usage)).toEqual(
    done.generation,
  );
  return done.generation;
}

const weatherTool = {
  type: "function" as const,
  name: "get_weather",
  description: "The weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};
const timeTool = {
  type: "function" as const,
  name: "get_time",
  description: null,
  parameters: null,
  strict: false,
};

const PNG_DATA_URL = "data:image/png;base64,iVBORw0KGgo=";
const ARGS_OSLO = '{"city":"Oslo"}';

/** A request with every field set. */
function fullRequest(overrides: Partial<GenerateRequest> = {}): GenerateRequest {
  return generateRequest("unused", {
    model: "qwen3-8b",
    messages: [
      { role: "developer", content: [{ type: "text", text: "Use tools." }] },
      {
        role: "user",
        content: [
          { type: "text", text: "What is in these?" },
          { type: "image", url: PNG_DATA_URL, detail: "low", fileId: "file-abc" },
          { type: "image", url: "https://example.com/cat.jpg", detail: "auto" },
          { type: "image", url: "https://example.com/big.jpg", detail: "original" },
          {
            type: "file",
            data: "data:application/pdf;base64,JVBERi0=",
            filename: "a.pdf",
            fileId: "file-pdf",
          },
          { type: "audio", data: "UklGRg==", format: "wav" },
        ],
      },
      { role: "assistant", content: [{ type: "refusal", refusal: "I can't help with that." }] },
      {
        role: "assistant",
        content: [],
        toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Oslo"}' }],
        reasoning: "They want Oslo.",
      },
      { role: "tool", toolCallId: "call_1", content: [{ type: "text", text: "rain, 4°C" }] },
    ],
    tools: [weatherTool, timeTool],
    toolChoice: { type: "function", name: "get_weather" },
    parallelToolCalls: false,
    outputFormat: {
      type: "json_schema",
      name: "answer",
      schema: { type: "object", properties: { a: { type: "string" } } },
      strict: true,
      description: "The answer",
    },
    sampling: {
      temperature: 0.3,
      topP: 0.9,
      seed: 42,
      stop: ["END", "STOP"],
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
      logitBias: { "50256": -100 },
      logprobs: true,
      topLogprobs: 2,
    },
    maxOutputTokens: 256,
    reasoningEffort: "low",
    user: "user-7",
    ...overrides,
  });
}

const FULL_BODY = {
  model: "qwen3-8b",
  messages: [
    { role: "system", content: "Use tools." },
    {
      role: "user",
      content: [
        { type: "text", text: "What is in these?" },
        { type: "image_url", image_url: { url: PNG_DATA_URL, detail: "low" } },
        { type: "image_url", image_url: { url: "https://example.com/cat.jpg" } },
        { type: "image_url", image_url: { url: "https://example.com/big.jpg", detail: "high" } },
        {
          type: "file",
          file: { file_data: "data:application/pdf;base64,JVBERi0=", filename: "a.pdf" },
        },
        { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } },
      ],
    },
    { role: "assistant", content: "", refusal: "I can't help with that." },
    {
      role: "assistant",
      content: null,
      tool_calls: [
        {
          id: "call_1",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
        },
      ],
    },
    { role: "tool", tool_call_id: "call_1", content: "rain, 4°C" },
  ],
  tools: [
    {
      type: "function",
      function: {
        name: "get_weather",
        description: "The weather in a city",
        parameters: weatherTool.parameters,
        strict: true,
      },
    },
    { type: "function", function: { name: "get_time" } },
  ],
  tool_choice: { type: "function", function: { name: "get_weather" } },
  parallel_tool_calls: false,
  response_format: {
    type: "json_schema",
    json_schema: {
      name: "answer",
      schema: { type: "object", properties: { a: { type: "string" } } },
      strict: true,
      description: "The answer",
    },
  },
  max_tokens: 256,
  temperature: 0.3,
  top_p: 0.9,
  stop: ["END", "STOP"],
  seed: 42,
  presence_penalty: 0.5,
  frequency_penalty: -0.5,
  logit_bias: { "50256": -100 },
  logprobs: true,
  top_logprobs: 2,
  reasoning_effort: "low",
  user: "user-7",
};

const USAGE = {
  prompt_tokens: 120,
  completion_tokens: 30,
  total_tokens: 150,
  prompt_tokens_details: { cached_tokens: 64 },
  completion_tokens_details: { reasoning_tokens: 12 },
};
const CONTRACT_USAGE = {
  inputTokens: 120,
  outputTokens: 30,
  cachedInputTokens: 64,
  reasoningTokens: 12,
};

const WIRE_LOGPROBS = [
  {
    token: "It",
    logprob: -0.1,
    bytes: [73, 116],
    top_logprobs: [
      { token: "It", logprob: -0.1, bytes: [73, 116] },
      { token: "The", logprob: -2.5, bytes: [84, 104, 101] },
    ],
  },
  { token: " rains", logprob: -0.3, bytes: null, top_logprobs: [] },
];
const CONTRACT_LOGPROBS = [
  {
    token: "It",
    logprob: -0.1,
    bytes: [73, 116],
    topLogprobs: [
      { token: "It", logprob: -0.1, bytes: [73, 116] },
      { token: "The", logprob: -2.5, bytes: [84, 104, 101] },
    ],
  },
  { token: " rains", logprob: -0.3, bytes: null, topLogprobs: [] },
];

describe("the request", () => {
  it("sends every contract field in Chat Completions' shape", async () => {
    await backend.generate(fullRequest(), never());
    expect(upstream.requests[0]?.path).toBe("/v1/chat/completions");
    expect(upstream.requests[0]?.body).toEqual({ ...FULL_BODY, stream: false });
  });

  it("sends the same fields when streaming, with usage asked for", async () => {
    await collect(backend.streamGenerate(fullRequest(), never()));
    expect(upstream.requests[0]?.body).toEqual({
      ...FULL_BODY,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it("leaves out every unset field, and all tool fields without tools", async () => {
    await backend.generate(generateRequest("Hi", { toolChoice: { type: "none" } }), never());
    expect(upstream.requests[0]?.body).toEqual({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
      stream: false,
    });
  });

  it("maps each tool_choice; allowed_tools sends only the allowed tools", async () => {
    const bodies: unknown[] = [];
    for (const toolChoice of [
      { type: "auto" },
      { type: "none" },
      { type: "required" },
      { type: "allowed", mode: "required", names: ["get_time"] },
      { type: "allowed", mode: "auto", names: ["get_weather"] },
    ] as const) {
      await backend.generate(
        generateRequest("Hi", { tools: [weatherTool, timeTool], toolChoice }),
        never(),
      );
      const body = upstream.requests.at(-1)?.body as Record<string, unknown>;
      bodies.push({
        tools: (body.tools as { function: { name: string } }[]).map((t) => t.function.name),
        tool_choice: body.tool_choice,
        parallel_tool_calls: body.parallel_tool_calls,
      });
    }
    expect(bodies).toEqual([
      { tools: ["get_weather", "get_time"], tool_choice: undefined, parallel_tool_calls: true },
      { tools: ["get_weather", "get_time"], tool_choice: "none", parallel_tool_calls: true },
      { tools: ["get_weather", "get_time"], tool_choice: "required", parallel_tool_calls: true },
      { tools: ["get_time"], tool_choice: "required", parallel_tool_calls: true },
      { tools: ["get_weather"], tool_choice: undefined, parallel_tool_calls: true },
    ]);
  });

  it("sends json_object, and logprobs without top_logprobs", async () => {
    await backend.generate(
      generateRequest("Hi", {
        outputFormat: { type: "json_object" },
        sampling: { ...DEFAULT_SAMPLING, logprobs: true },
      }),
      never(),
    );
    expect(upstream.requests[0]?.body).toMatchObject({
      response_format: { type: "json_object" },
      logprobs: true,
    });
    expect(upstream.requests[0]?.body).not.toHaveProperty("top_logprobs");
  });

  it("refuses a file by URL, which Chat cannot carry, before calling the upstream", async () => {
    const error = await backend
      .generate(
        generateRequest("Hi", {
          messages: [
            { role: "user", content: [{ type: "file", url: "https://example.com/a.pdf" }] },
          ],
        }),
        never(),
      )
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).status).toBe(400);
    expect(upstream.requests).toHaveLength(0);
  });
});

describe("a whole answer", () => {
  it("maps reasoning, text with logprobs, a refusal and tool calls, in that order", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      body: chatCompletionOf(
        {
          reasoning_content: "Rain is likely.",
          content: "It rains",
          refusal: "No more.",
          tool_calls: [
            {
              id: "call_a",
              type: "function",
              function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
            },
            { type: "function", function: { name: "get_time", arguments: "{}" } },
          ],
        },
        // llama.cpp's habit: tools called, finish_reason "stop".
        { finishReason: "stop", logprobs: { content: WIRE_LOGPROBS }, usage: USAGE },
      ),
    }));
    const generation = await backend.generate(fullRequest(), never());
    const secondId = (generation.items[3] as { callId: string }).callId;
    expect(generation).toEqual({
      items: [
        { type: "reasoning", text: "Rain is likely.", summary: [], encryptedContent: null },
        {
          type: "message",
          parts: [
            { type: "text", text: "It rains", logprobs: CONTRACT_LOGPROBS },
            { type: "refusal", refusal: "No more." },
          ],
        },
        {
          type: "function_call",
          callId: "call_a",
          name: "get_weather",
          arguments: '{"city":"Oslo"}',
        },
        { type: "function_call", callId: secondId, name: "get_time", arguments: "{}" },
      ],
      finishReason: "tool_calls",
      usage: CONTRACT_USAGE,
    });
    // A server that sent no id gets one derived from the completion, the same every time.
    expect(secondId).toMatch(/^call_[0-9a-f]{24}$/);
    const again = await backend.generate(fullRequest(), never());
    expect((again.items[3] as { callId: string }).callId).toBe(secondId);
  });

  it("reads `reasoning` (newer vLLM) and the legacy function_call", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      body: chatCompletionOf(
        {
          content: null,
          reasoning: "Think.",
          function_call: { name: "get_time", arguments: '{"tz":"UTC"}' },
        },
        { finishReason: "function_call" },
      ),
    }));
    const generation = await backend.generate(fullRequest(), never());
    expect(generation.items).toEqual([
      { type: "reasoning", text: "Think.", summary: [], encryptedContent: null },
      {
        type: "function_call",
        callId: expect.stringMatching(/^call_/),
        name: "get_time",
        arguments: '{"tz":"UTC"}',
      },
    ]);
    expect(generation.finishReason).toBe("tool_calls");
  });

  it("maps content_filter, and length", async () => {
    for (const finishReason of ["content_filter", "length"] as const) {
      upstream.setHandler(() => ({
        kind: "json",
        body: chatCompletionOf({ content: "x" }, { finishReason }),
      }));
      expect((await backend.generate(fullRequest(), never())).finishReason).toBe(finishReason);
    }
  });
});

/** A stream the way vLLM sends one: reasoning, content with logprobs, then two tool calls. */
const ORDERLY_FRAMES = [
  chunkOf({ role: "assistant", content: "" }),
  chunkOf({ reasoning_content: "Rain " }),
  chunkOf({ reasoning_content: "is likely." }),
  chunkOf({ content: "It" }, { logprobs: { content: [WIRE_LOGPROBS[0]] } }),
  chunkOf({ content: " rains" }, { logprobs: { content: [WIRE_LOGPROBS[1]] } }),
  chunkOf({
    tool_calls: [
      {
        index: 0,
        id: "call_a",
        type: "function",
        function: { name: "get_weather", arguments: "" },
      },
    ],
  }),
  chunkOf({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  chunkOf({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }),
  chunkOf({
    tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "get_time" } }],
  }),
  chunkOf({ tool_calls: [{ index: 1, function: { arguments: "{}" } }] }),
  chunkOf({}, { finishReason: "tool_calls" }),
  usageChunk(USAGE),
];

const ORDERLY_GENERATION = {
  items: [
    { type: "reasoning", text: "Rain is likely.", summary: [], encryptedContent: null },
    { type: "message", parts: [{ type: "text", text: "It rains", logprobs: CONTRACT_LOGPROBS }] },
    {
      type: "function_call",
      callId: "call_a",
      name: "get_weather",
      arguments: '{"city":"Oslo"}',
    },
    { type: "function_call", callId: "call_b", name: "get_time", arguments: "{}" },
  ],
  finishReason: "tool_calls",
  usage: CONTRACT_USAGE,
};

describe("a streamed answer", () => {
  it("streams reasoning, text with logprobs and each tool call as its own item", async () => {
    upstream.setHandler(() => ({ kind: "sse", frames: ORDERLY_FRAMES }));
    const events = await collect(backend.streamGenerate(fullRequest(), never()));
    expect(events.slice(0, -1)).toEqual([
      { type: "item.start", index: 0, item: { type: "reasoning" } },
      { type: "reasoning.delta", index: 0, text: "Rain " },
      { type: "reasoning.delta", index: 0, text: "is likely." },
      { type: "item.start", index: 1, item: { type: "message" } },
      { type: "text.delta", index: 1, text: "It", logprobs: [CONTRACT_LOGPROBS[0]] },
      { type: "text.delta", index: 1, text: " rains", logprobs: [CONTRACT_LOGPROBS[1]] },
      {
        type: "item.start",
        index: 2,
        item: { type: "function_call", callId: "call_a", name: "get_weather" },
      },
      { type: "arguments.delta", index: 2, text: '{"city":' },
      { type: "arguments.delta", index: 2, text: '"Oslo"}' },
      // The second call is held until the end (see StreamItems): arguments of call 0 could
      // still have come.
      {
        type: "item.start",
        index: 3,
        item: { type: "function_call", callId: "call_b", name: "get_time" },
      },
      { type: "arguments.delta", index: 3, text: "{}" },
    ]);
    expect(expectWellOrdered(events)).toEqual(ORDERLY_GENERATION);
  });

  it("reads `reasoning`, refusal deltas, and tool calls said to 'stop', without [DONE]", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      end: "eof",
      frames: [
        chunkOf({ reasoning: "Hmm." }),
        chunkOf({ refusal: "I won't " }),
        chunkOf({ refusal: "say." }),
        chunkOf({
          tool_calls: [{ index: 0, id: "c1", function: { name: "get_time", arguments: "{}" } }],
        }),
        chunkOf({}, { finishReason: "stop" }),
      ],
    }));
    const generation = expectWellOrdered(
      await collect(backend.streamGenerate(fullRequest(), never())),
    );
    expect(generation.items).toEqual([
      { type: "reasoning", text: "Hmm.", summary: [], encryptedContent: null },
      { type: "message", parts: [{ type: "refusal", refusal: "I won't say." }] },
      { type: "function_call", callId: "c1", name: "get_time", arguments: "{}" },
    ]);
    expect(generation.finishReason).toBe("tool_calls");
  });

  it("keeps the rules when a server interleaves: calls alternating, text after a call", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [
        chunkOf({ content: "Checking." }),
        // The name comes after the first fragment: the call waits for it.
        chunkOf({ tool_calls: [{ index: 0, id: "c0", function: { arguments: '{"ci' } }] }),
        chunkOf({ tool_calls: [{ index: 0, function: { name: "get_weather" } }] }),
        chunkOf({ tool_calls: [{ index: 1, id: "c1", function: { name: "get_time" } }] }),
        chunkOf({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Oslo"}' } }] }),
        chunkOf({ tool_calls: [{ index: 1, function: { arguments: "{}" } }] }),
        chunkOf({ content: " Done." }),
        chunkOf({}, { finishReason: "tool_calls" }),
      ],
    }));
    const events = await collect(backend.streamGenerate(fullRequest(), never()));
    const generation = expectWellOrdered(events);
    expect(generation.items).toEqual([
      { type: "message", parts: [{ type: "text", text: "Checking." }] },
      { type: "function_call", callId: "c0", name: "get_weather", arguments: '{"city":"Oslo"}' },
      { type: "function_call", callId: "c1", name: "get_time", arguments: "{}" },
      { type: "message", parts: [{ type: "text", text: " Done." }] },
    ]);
    // The open call streams live; its late fragment is not held back.
    const live = events.findIndex((e) => e.type === "arguments.delta" && e.text.startsWith("ty"));
    const second = events.findIndex((e) => e.type === "item.start" && e.index === 2);
    expect(live).toBeLessThan(second);
  });

  it("maps the single whole answer of a server that ignores stream: true", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      body: chatCompletionOf(
        {
          reasoning_content: "Rain is likely.",
          content: "It rains",
          tool_calls: [
            {
              id: "call_a",
              type: "function",
              function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
            },
            {
              id: "call_b",
              type: "function",
              function: { name: "get_time", arguments: "{}" },
            },
          ],
        },
        { finishReason: "tool_calls", logprobs: { content: WIRE_LOGPROBS }, usage: USAGE },
      ),
    }));
    const events = await collect(backend.streamGenerate(fullRequest(), never()));
    expect(expectWellOrdered(events)).toEqual(ORDERLY_GENERATION);
  });

  it("gives a call without an id the same id streamed as whole", async () => {
    const calls = [{ index: 0, function: { name: "get_time", arguments: "{}" } }];
    upstream.setHandler((request) =>
      (request.body as { stream: boolean }).stream
        ? {
            kind: "sse",
            frames: [chunkOf({ tool_calls: calls }), chunkOf({}, { finishReason: "tool_calls" })],
          }
        : { kind: "json", body: chatCompletionOf({ tool_calls: calls }) },
    );
    const streamed = expectWellOrdered(
      await collect(backend.streamGenerate(fullRequest(), never())),
    );
    const whole = await backend.generate(fullRequest(), never());
    expect(streamed.items).toEqual(whole.items);
  });

  it("reads a streamed legacy function_call, and whole calls sent without an index", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [
        chunkOf({ function_call: { name: "get_time", arguments: "" } }),
        chunkOf({ function_call: { arguments: '{"tz":"UTC"}' } }),
        chunkOf({}, { finishReason: "function_call" }),
      ],
    }));
    const legacy = expectWellOrdered(await collect(backend.streamGenerate(fullRequest(), never())));
    expect(legacy.items).toEqual([
      {
        type: "function_call",
        callId: expect.stringMatching(/^call_/),
        name: "get_time",
        arguments: '{"tz":"UTC"}',
      },
    ]);
    expect(legacy.finishReason).toBe("tool_calls");

    // Gemini's OpenAI layer: each call whole, no index.
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [
        chunkOf({ tool_calls: [{ id: "g1", function: { name: "get_time", arguments: "{}" } }] }),
        chunkOf({
          tool_calls: [{ id: "g2", function: { name: "get_weather", arguments: ARGS_OSLO } }],
        }),
        chunkOf({}, { finishReason: "stop" }),
      ],
    }));
    const whole = expectWellOrdered(await collect(backend.streamGenerate(fullRequest(), never())));
    expect(whole.items).toEqual([
      { type: "function_call", callId: "g1", name: "get_time", arguments: "{}" },
      { type: "function_call", callId: "g2", name: "get_weather", arguments: ARGS_OSLO },
    ]);
    expect(whole.finishReason).toBe("tool_calls");
  });

  it("fails with a 502 when a call never gets its name", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [
        chunkOf({ tool_calls: [{ index: 0, id: "c0", function: { arguments: "{}" } }] }),
        chunkOf({}, { finishReason: "tool_calls" }),
      ],
    }));
    const error = await collect(backend.streamGenerate(fullRequest(), never())).catch(
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).status).toBe(502);
    expect((error as BackendError).message).toMatch(/function name/);
  });
});

describe("a raw prompt (legacy completions)", () => {
  const promptRequest = () =>
    generateRequest("Once upon", {
      model: "llama-3-base",
      prompt: "Once upon",
      maxOutputTokens: 5,
      sampling: {
        ...DEFAULT_SAMPLING,
        temperature: 0,
        stop: ["\n"],
        seed: 1,
        logprobs: true,
        topLogprobs: 2,
      },
      user: "u1",
    });
  const legacyLogprobs = {
    tokens: [" a", " time"],
    token_logprobs: [-0.2, -0.01],
    top_logprobs: [
      { " a": -0.2, " the": -1.9 },
      { " time": -0.01, " day": -5 },
    ],
    text_offset: [9, 11],
  };
  const contractLogprobs = [
    {
      token: " a",
      logprob: -0.2,
      bytes: null,
      topLogprobs: [
        { token: " a", logprob: -0.2, bytes: null },
        { token: " the", logprob: -1.9, bytes: null },
      ],
    },
    {
      token: " time",
      logprob: -0.01,
      bytes: null,
      topLogprobs: [
        { token: " time", logprob: -0.01, bytes: null },
        { token: " day", logprob: -5, bytes: null },
      ],
    },
  ];
  const expected = {
    items: [
      { type: "message", parts: [{ type: "text", text: " a time", logprobs: contractLogprobs }] },
    ],
    finishReason: "length",
    usage: { inputTokens: 2, outputTokens: 2, cachedInputTokens: 0, reasoningTokens: 0 },
  };
  const usage = { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 };

  it("POSTs /completions with the prompt and maps text and legacy logprobs", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      body: {
        id: "cmpl-1",
        object: "text_completion",
        choices: [{ index: 0, text: " a time", logprobs: legacyLogprobs, finish_reason: "length" }],
        usage,
      },
    }));
    expect(await backend.generate(promptRequest(), never())).toEqual(expected);
    expect(upstream.requests[0]?.path).toBe("/v1/completions");
    expect(upstream.requests[0]?.body).toEqual({
      model: "llama-3-base",
      prompt: "Once upon",
      max_tokens: 5,
      temperature: 0,
      stop: ["\n"],
      seed: 1,
      logprobs: 2,
      user: "u1",
      stream: false,
    });
  });

  it("streams text_completion chunks", async () => {
    const chunk = (text: string, position: number, finish: string | null) => ({
      id: "cmpl-1",
      object: "text_completion",
      choices: [
        {
          index: 0,
          text,
          logprobs: {
            tokens: [legacyLogprobs.tokens[position]],
            token_logprobs: [legacyLogprobs.token_logprobs[position]],
            top_logprobs: [legacyLogprobs.top_logprobs[position]],
            text_offset: [legacyLogprobs.text_offset[position]],
          },
          finish_reason: finish,
        },
      ],
    });
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [
        chunk(" a", 0, null),
        chunk(" time", 1, "length"),
        { id: "cmpl-1", object: "text_completion", choices: [], usage },
      ],
    }));
    const events = await collect(backend.streamGenerate(promptRequest(), never()));
    expect(events.slice(0, 3)).toEqual([
      { type: "item.start", index: 0, item: { type: "message" } },
      { type: "text.delta", index: 0, text: " a", logprobs: [contractLogprobs[0]] },
      { type: "text.delta", index: 0, text: " time", logprobs: [contractLogprobs[1]] },
    ]);
    expect(expectWellOrdered(events)).toEqual(expected);
    expect(upstream.requests[0]?.path).toBe("/v1/completions");
    expect(upstream.requests[0]?.body).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it("maps the whole answer of a server that ignores stream: true", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      body: {
        object: "text_completion",
        choices: [{ index: 0, text: " a time", logprobs: legacyLogprobs, finish_reason: "length" }],
        usage,
      },
    }));
    const events = await collect(backend.streamGenerate(promptRequest(), never()));
    expect(expectWellOrdered(events)).toEqual(expected);
  });

  it("refuses tools with a raw prompt: the legacy API has none", async () => {
    const error = await backend
      .generate({ ...promptRequest(), tools: [weatherTool] }, never())
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).status).toBe(400);
    expect(upstream.requests).toHaveLength(0);
  });
});
