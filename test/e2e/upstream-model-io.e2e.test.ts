import OpenAI, { toFile } from "openai";
import { zodResponseFormat, zodTextFormat } from "openai/helpers/zod";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { BackendConfig } from "../../src/config.js";
import { expectMatchesComponent, validateAgainstComponent } from "../helpers/openapi-schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import {
  chatCompletionOf,
  chunkOf,
  openAIError,
  type RecordedRequest,
  startFakeUpstream,
  type UpstreamHandler,
  type UpstreamReply,
  usageChunk,
} from "../helpers/upstream.js";

/**
 * Acceptance for full model I/O through an OpenAI-compatible upstream: ferry's real HTTP server
 * with an `openai` backend pointed at a node:http fake that records what ferry sends and
 * answers with reasoning, text with logprobs, a tool call and detailed usage. Every field is
 * checked both ways for /v1/responses and /v1/chat/completions (sync and streamed) and a batch,
 * with the official SDK as the client and ferry's output validated against the OpenAPI spec.
 */

// Compiling the spec's validators takes seconds on a busy machine; done once, before the
// tests' own timeouts start.
beforeAll(() => {
  for (const name of [
    "Response",
    "ResponseOutputItemAddedEvent",
    "ResponseOutputItemDoneEvent",
    "ResponseFunctionCallArgumentsDeltaEvent",
    "ResponseFunctionCallArgumentsDoneEvent",
    "ResponseTextDeltaEvent",
    "ResponseCompletedEvent",
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
  ]) {
    validateAgainstComponent(name, {});
  }
}, 180_000);

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) {
    await thing.close();
  }
});

async function start(handler: UpstreamHandler = scriptedAnswer) {
  const upstream = await startFakeUpstream(handler);
  open.push(upstream);
  const backend: BackendConfig = {
    type: "openai",
    name: "upstream",
    baseUrl: upstream.baseUrl,
    apiKey: "sk-upstream",
    models: ["*"],
    aliases: { "gpt-4o-mini": "qwen3-8b" },
    maxConcurrency: 4,
    timeoutMs: 5_000,
    headers: {},
  };
  const server = await startTestServer({
    config: { backends: [backend], retry: { maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 50 } },
  });
  open.push({ close: () => server.close({ removeData: true }) });
  return { upstream, server };
}

const PNG_DATA_URL =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

const WEATHER_PARAMETERS = {
  type: "object",
  properties: { city: { type: "string" } },
  required: ["city"],
  additionalProperties: false,
};
const ANSWER_SCHEMA = {
  type: "object",
  properties: { summary: { type: "string" } },
  required: ["summary"],
  additionalProperties: false,
};

const USAGE = {
  prompt_tokens: 120,
  completion_tokens: 30,
  total_tokens: 150,
  prompt_tokens_details: { cached_tokens: 64 },
  completion_tokens_details: { reasoning_tokens: 12 },
};
const LOGPROBS = [
  {
    token: "It",
    logprob: -0.1,
    bytes: [73, 116],
    top_logprobs: [
      { token: "It", logprob: -0.1, bytes: [73, 116] },
      { token: "The", logprob: -2.5, bytes: [84, 104, 101] },
    ],
  },
  {
    token: " rains",
    logprob: -0.3,
    bytes: [32, 114, 97, 105, 110, 115],
    top_logprobs: [
      { token: " rains", logprob: -0.3, bytes: [32, 114, 97, 105, 110, 115] },
      { token: " pours", logprob: -1.6, bytes: [32, 112, 111, 117, 114, 115] },
    ],
  },
];
const REASONING = "The user wants the weather in Oslo.";
const ARGUMENTS = '{"city":"Oslo"}';

/**
 * The upstream's answer to every chat request, whole or streamed as vLLM streams it: reasoning,
 * then the text with logprobs, then one tool call whose arguments come in pieces.
 */
function scriptedAnswer(request: RecordedRequest): UpstreamReply {
  const body = request.body as { stream?: boolean };
  if (body.stream !== true) {
    return {
      kind: "json",
      body: chatCompletionOf(
        {
          content: "It rains",
          reasoning_content: REASONING,
          tool_calls: [
            {
              id: "call_weather",
              type: "function",
              function: { name: "get_weather", arguments: ARGUMENTS },
            },
          ],
        },
        { finishReason: "tool_calls", logprobs: { content: LOGPROBS }, usage: USAGE },
      ),
    };
  }
  return {
    kind: "sse",
    frames: [
      chunkOf({ role: "assistant", content: "" }),
      chunkOf({ reasoning_content: "The user wants " }),
      chunkOf({ reasoning_content: "the weather in Oslo." }),
      chunkOf({ content: "It" }, { logprobs: { content: [LOGPROBS[0]] } }),
      chunkOf({ content: " rains" }, { logprobs: { content: [LOGPROBS[1]] } }),
      chunkOf({
        tool_calls: [
          {
            index: 0,
            id: "call_weather",
            type: "function",
            function: { name: "get_weather", arguments: "" },
          },
        ],
      }),
      chunkOf({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunkOf({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }),
      chunkOf({}, { finishReason: "tool_calls" }),
      usageChunk(USAGE),
    ],
  };
}

/** What ferry must send upstream for the Responses request below, streamed or not. */
const RESPONSES_UPSTREAM_BODY = {
  model: "qwen3-8b",
  messages: [
    { role: "system", content: "Answer with tools." },
    {
      role: "user",
      content: [
        { type: "text", text: "What is the weather here?" },
        { type: "image_url", image_url: { url: PNG_DATA_URL, detail: "low" } },
      ],
    },
  ],
  tools: [
    {
      type: "function",
      function: {
        name: "get_weather",
        description: "The weather in a city",
        parameters: WEATHER_PARAMETERS,
        strict: true,
      },
    },
  ],
  tool_choice: "required",
  parallel_tool_calls: false,
  response_format: {
    type: "json_schema",
    json_schema: { name: "answer", schema: ANSWER_SCHEMA, strict: true },
  },
  max_tokens: 200,
  temperature: 0.3,
  top_p: 0.9,
  logprobs: true,
  top_logprobs: 2,
  reasoning_effort: "low",
  user: "safety-42",
};

function responsesParams() {
  return {
    model: "gpt-4o-mini",
    instructions: "Answer with tools.",
    input: [
      {
        role: "user" as const,
        content: [
          { type: "input_text" as const, text: "What is the weather here?" },
          { type: "input_image" as const, image_url: PNG_DATA_URL, detail: "low" as const },
        ],
      },
    ],
    tools: [
      {
        type: "function" as const,
        name: "get_weather",
        description: "The weather in a city",
        parameters: WEATHER_PARAMETERS,
        strict: true,
      },
    ],
    tool_choice: "required" as const,
    parallel_tool_calls: false,
    text: {
      format: {
        type: "json_schema" as const,
        name: "answer",
        schema: ANSWER_SCHEMA,
        strict: true,
      },
    },
    max_output_tokens: 200,
    temperature: 0.3,
    top_p: 0.9,
    include: ["message.output_text.logprobs" as const],
    top_logprobs: 2,
    reasoning: { effort: "low" as const },
    safety_identifier: "safety-42",
  };
}

/** The Responses output items ferry must return for the scripted answer (ids aside). */
function expectResponsesOutput(output: readonly Record<string, unknown>[]) {
  expect(output.map((item) => item.type)).toEqual(["reasoning", "message", "function_call"]);
  const [reasoning, message, call] = output as [
    Record<string, unknown>,
    { content: Record<string, unknown>[] },
    Record<string, unknown>,
  ];
  expect(JSON.stringify(reasoning)).toContain(REASONING);
  expect(message.content).toHaveLength(1);
  expect(message.content[0]).toMatchObject({
    type: "output_text",
    text: "It rains",
    logprobs: [
      {
        token: "It",
        logprob: -0.1,
        bytes: [73, 116],
        top_logprobs: [
          { token: "It", logprob: -0.1, bytes: [73, 116] },
          { token: "The", logprob: -2.5, bytes: [84, 104, 101] },
        ],
      },
      {
        token: " rains",
        logprob: -0.3,
        top_logprobs: [{ token: " rains" }, { token: " pours", logprob: -1.6 }],
      },
    ],
  });
  expect(call).toMatchObject({
    type: "function_call",
    call_id: "call_weather",
    name: "get_weather",
    arguments: ARGUMENTS,
    status: "completed",
  });
  expect(call.id).toMatch(/^fc_/);
}

function expectDetailedUsage(usage: unknown) {
  expect(usage).toMatchObject({
    input_tokens: 120,
    output_tokens: 30,
    total_tokens: 150,
    input_tokens_details: { cached_tokens: 64 },
    output_tokens_details: { reasoning_tokens: 12 },
  });
}

describe("/v1/responses through an OpenAI-compatible upstream", () => {
  it("sends every field upstream and maps reasoning, logprobs and the call back", async () => {
    const { upstream, server } = await start();
    const response = await server.openai.responses.create(responsesParams());

    expect(upstream.requests[0]?.path).toBe("/v1/chat/completions");
    expect(upstream.requests[0]?.body).toEqual({ ...RESPONSES_UPSTREAM_BODY, stream: false });
    expectMatchesComponent("Response", response);
    expect(response.status).toBe("completed");
    expectResponsesOutput(response.output as unknown as Record<string, unknown>[]);
    expectDetailedUsage(response.usage);
  });

  it("streams the reasoning, the text with logprobs and the function-call events", async () => {
    const { upstream, server } = await start();
    const stream = await server.openai.responses.create({ ...responsesParams(), stream: true });
    const events: { type: string; [key: string]: unknown }[] = [];
    for await (const event of stream) {
      events.push(event as unknown as { type: string });
    }

    expect(upstream.requests[0]?.body).toEqual({
      ...RESPONSES_UPSTREAM_BODY,
      stream: true,
      stream_options: { include_usage: true },
    });
    const SHAPES: Record<string, string> = {
      "response.output_item.added": "ResponseOutputItemAddedEvent",
      "response.output_item.done": "ResponseOutputItemDoneEvent",
      "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
      "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
      "response.output_text.delta": "ResponseTextDeltaEvent",
      "response.completed": "ResponseCompletedEvent",
    };
    for (const event of events) {
      const shape = SHAPES[event.type];
      if (shape !== undefined) {
        expectMatchesComponent(shape, event);
      }
    }
    const textDeltas = events.filter((e) => e.type === "response.output_text.delta");
    expect(textDeltas.map((e) => e.delta).join("")).toBe("It rains");
    expect(textDeltas.flatMap((e) => e.logprobs as unknown[])).toMatchObject([
      { token: "It", logprob: -0.1 },
      { token: " rains", logprob: -0.3 },
    ]);
    const added = events.filter((e) => e.type === "response.output_item.added");
    expect(added.map((e) => (e.item as { type: string }).type)).toEqual([
      "reasoning",
      "message",
      "function_call",
    ]);
    expect(added[2]?.item).toMatchObject({
      type: "function_call",
      call_id: "call_weather",
      name: "get_weather",
    });
    const argumentDeltas = events.filter(
      (e) => e.type === "response.function_call_arguments.delta",
    );
    expect(argumentDeltas.map((e) => e.delta)).toEqual(['{"city":', '"Oslo"}']);
    expect(events.find((e) => e.type === "response.function_call_arguments.done")).toMatchObject({
      arguments: ARGUMENTS,
    });
    const completed = events.find((e) => e.type === "response.completed") as unknown as {
      response: { output: Record<string, unknown>[]; usage: unknown };
    };
    expectResponsesOutput(completed.response.output);
    expectDetailedUsage(completed.response.usage);
  });
});

/** The Chat request the SDK sends ferry: every field, and history in every message shape. */
function chatParams() {
  return {
    model: "gpt-4o-mini",
    messages: [
      { role: "developer" as const, content: "Answer with tools." },
      {
        role: "user" as const,
        content: [
          { type: "text" as const, text: "And here?" },
          { type: "image_url" as const, image_url: { url: PNG_DATA_URL, detail: "high" as const } },
        ],
      },
      { role: "assistant" as const, content: null, refusal: "I can't see that." },
      {
        role: "assistant" as const,
        content: null,
        tool_calls: [
          {
            id: "call_prev",
            type: "function" as const,
            function: { name: "get_weather", arguments: '{"city":"Bergen"}' },
          },
        ],
      },
      { role: "tool" as const, tool_call_id: "call_prev", content: "rain" },
    ],
    tools: [
      {
        type: "function" as const,
        function: {
          name: "get_weather",
          description: "The weather in a city",
          parameters: WEATHER_PARAMETERS,
          strict: true,
        },
      },
    ],
    tool_choice: { type: "function" as const, function: { name: "get_weather" } },
    parallel_tool_calls: true,
    response_format: { type: "json_object" as const },
    stop: ["END"],
    seed: 7,
    presence_penalty: 0.5,
    frequency_penalty: 0.25,
    logit_bias: { "50256": -100 },
    logprobs: true,
    top_logprobs: 2,
    reasoning_effort: "medium" as const,
    user: "end-user-1",
    max_tokens: 100,
    temperature: 0.2,
  };
}

const CHAT_UPSTREAM_BODY = {
  model: "qwen3-8b",
  messages: [
    { role: "system", content: "Answer with tools." },
    {
      role: "user",
      content: [
        { type: "text", text: "And here?" },
        { type: "image_url", image_url: { url: PNG_DATA_URL, detail: "high" } },
      ],
    },
    { role: "assistant", content: "", refusal: "I can't see that." },
    {
      role: "assistant",
      content: null,
      tool_calls: [
        {
          id: "call_prev",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Bergen"}' },
        },
      ],
    },
    { role: "tool", tool_call_id: "call_prev", content: "rain" },
  ],
  tools: [
    {
      type: "function",
      function: {
        name: "get_weather",
        description: "The weather in a city",
        parameters: WEATHER_PARAMETERS,
        strict: true,
      },
    },
  ],
  tool_choice: { type: "function", function: { name: "get_weather" } },
  parallel_tool_calls: true,
  response_format: { type: "json_object" },
  max_tokens: 100,
  temperature: 0.2,
  stop: ["END"],
  seed: 7,
  presence_penalty: 0.5,
  frequency_penalty: 0.25,
  logit_bias: { "50256": -100 },
  logprobs: true,
  top_logprobs: 2,
  reasoning_effort: "medium",
  user: "end-user-1",
};

describe("/v1/chat/completions through an OpenAI-compatible upstream", () => {
  it("sends every field upstream and returns the tool call, logprobs and usage", async () => {
    const { upstream, server } = await start();
    const completion = await server.openai.chat.completions.create(chatParams());

    expect(upstream.requests[0]?.body).toEqual({ ...CHAT_UPSTREAM_BODY, stream: false });
    expectMatchesComponent("CreateChatCompletionResponse", completion);
    const [choice] = completion.choices;
    expect(choice?.finish_reason).toBe("tool_calls");
    expect(choice?.message.content).toBe("It rains");
    expect(choice?.message.tool_calls).toEqual([
      {
        id: "call_weather",
        type: "function",
        function: { name: "get_weather", arguments: ARGUMENTS },
      },
    ]);
    expect(choice?.logprobs?.content).toEqual(LOGPROBS);
    expect(completion.usage).toMatchObject({
      prompt_tokens: 120,
      completion_tokens: 30,
      prompt_tokens_details: { cached_tokens: 64 },
      completion_tokens_details: { reasoning_tokens: 12 },
    });
  });

  it("streams indexed tool-call chunks the SDK's helper reassembles", async () => {
    const { upstream, server } = await start();
    const stream = server.openai.chat.completions.stream({
      ...chatParams(),
      stream_options: { include_usage: true },
    });
    const chunks: unknown[] = [];
    stream.on("chunk", (chunk) => chunks.push(chunk));
    const completion = await stream.finalChatCompletion();

    expect(upstream.requests[0]?.body).toEqual({
      ...CHAT_UPSTREAM_BODY,
      stream: true,
      stream_options: { include_usage: true },
    });
    for (const chunk of chunks) {
      expectMatchesComponent("CreateChatCompletionStreamResponse", chunk);
    }
    const [choice] = completion.choices;
    expect(choice?.finish_reason).toBe("tool_calls");
    expect(choice?.message.content).toBe("It rains");
    expect(choice?.message.tool_calls).toMatchObject([
      {
        id: "call_weather",
        type: "function",
        function: { name: "get_weather", arguments: ARGUMENTS },
      },
    ]);
    expect(choice?.logprobs?.content).toMatchObject([
      { token: "It", logprob: -0.1 },
      { token: " rains", logprob: -0.3 },
    ]);
    expect(completion.usage).toMatchObject({
      prompt_tokens: 120,
      completion_tokens_details: { reasoning_tokens: 12 },
    });
  });
});

describe("parallel tool calls through an OpenAI-compatible upstream", () => {
  const twoCalls: UpstreamHandler = () => ({
    kind: "sse",
    frames: [
      chunkOf({ role: "assistant", content: null }),
      chunkOf({
        tool_calls: [
          { index: 0, id: "call_oslo", type: "function", function: { name: "get_weather" } },
        ],
      }),
      chunkOf({ tool_calls: [{ index: 0, function: { arguments: '{"city":"Oslo"}' } }] }),
      chunkOf({
        tool_calls: [
          { index: 1, id: "call_rome", type: "function", function: { name: "get_weather" } },
        ],
      }),
      chunkOf({ tool_calls: [{ index: 1, function: { arguments: '{"city":"Rome"}' } }] }),
      chunkOf({}, { finishReason: "tool_calls" }),
      usageChunk(USAGE),
    ],
  });
  const tools = chatParams().tools;

  it("streams both calls as indexed chat chunks", async () => {
    const { server } = await start(twoCalls);
    const stream = server.openai.chat.completions.stream({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Oslo and Rome?" }],
      tools,
    });
    const chunks: unknown[] = [];
    stream.on("chunk", (chunk) => chunks.push(chunk));
    const completion = await stream.finalChatCompletion();
    for (const chunk of chunks) {
      expectMatchesComponent("CreateChatCompletionStreamResponse", chunk);
    }
    expect(completion.choices[0]?.finish_reason).toBe("tool_calls");
    expect(completion.choices[0]?.message.tool_calls).toMatchObject([
      { id: "call_oslo", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } },
      { id: "call_rome", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
    ]);
  });

  it("streams both calls as Responses function_call items", async () => {
    const { server } = await start(twoCalls);
    const stream = await server.openai.responses.create({
      model: "gpt-4o-mini",
      input: "Oslo and Rome?",
      tools: [
        { type: "function", name: "get_weather", parameters: WEATHER_PARAMETERS, strict: true },
      ],
      stream: true,
    });
    const done: Record<string, unknown>[] = [];
    for await (const event of stream) {
      if (event.type === "response.output_item.done") {
        expectMatchesComponent("ResponseOutputItemDoneEvent", event);
        done.push(event.item as unknown as Record<string, unknown>);
      }
    }
    expect(done).toMatchObject([
      { type: "function_call", call_id: "call_oslo", arguments: '{"city":"Oslo"}' },
      { type: "function_call", call_id: "call_rome", arguments: '{"city":"Rome"}' },
    ]);
  });
});

describe("a batch through an OpenAI-compatible upstream", () => {
  it("sends a line's tools and json_schema upstream and writes the tool call to the results", async () => {
    const { upstream, server } = await start();
    const line = {
      custom_id: "with-tools",
      method: "POST",
      url: "/v1/chat/completions",
      body: {
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Weather in Oslo?" }],
        tools: [
          {
            type: "function",
            function: { name: "get_weather", parameters: WEATHER_PARAMETERS, strict: true },
          },
        ],
        response_format: {
          type: "json_schema",
          json_schema: { name: "answer", schema: ANSWER_SCHEMA, strict: true },
        },
      },
    };
    const file = await server.openai.files.create({
      file: await toFile(Buffer.from(`${JSON.stringify(line)}\n`), "batch.jsonl"),
      purpose: "batch",
    });
    const batch = await server.openai.batches.create({
      input_file_id: file.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const done = await waitForBatch(server, batch.id);
    expect(done.status).toBe("completed");

    expect(upstream.requests[0]?.body).toMatchObject({
      model: "qwen3-8b",
      tools: [
        { type: "function", function: { name: "get_weather", parameters: WEATHER_PARAMETERS } },
      ],
      parallel_tool_calls: true,
      response_format: {
        type: "json_schema",
        json_schema: { name: "answer", schema: ANSWER_SCHEMA, strict: true },
      },
    });
    const content = await (await server.openai.files.content(done.output_file_id ?? "")).text();
    const [result] = content
      .trim()
      .split("\n")
      .map((text) => JSON.parse(text) as { response: { status_code: number; body: unknown } });
    expect(result?.response.status_code).toBe(200);
    expectMatchesComponent("CreateChatCompletionResponse", result?.response.body);
    expect(result?.response.body).toMatchObject({
      choices: [
        {
          finish_reason: "tool_calls",
          message: {
            tool_calls: [
              {
                id: "call_weather",
                type: "function",
                function: { name: "get_weather", arguments: ARGUMENTS },
              },
            ],
          },
        },
      ],
    });
  });
});

describe("structured output through an OpenAI-compatible upstream", () => {
  const Answer = z.object({ summary: z.string() });
  const jsonAnswer: UpstreamHandler = () => ({
    kind: "json",
    body: chatCompletionOf({ content: '{"summary":"Rain all day"}' }, { usage: USAGE }),
  });

  it("sends the SDK's zod schema as json_schema and parses the upstream's JSON (responses)", async () => {
    const { upstream, server } = await start(jsonAnswer);
    const response = await server.openai.responses.parse({
      model: "gpt-4o-mini",
      input: "Summarise the weather.",
      text: { format: zodTextFormat(Answer, "answer") },
    });
    expect(response.output_parsed).toEqual({ summary: "Rain all day" });
    expect(upstream.requests[0]?.body).toMatchObject({
      response_format: {
        type: "json_schema",
        json_schema: { name: "answer", strict: true, schema: { type: "object" } },
      },
    });
  });

  it("sends the SDK's zod schema as json_schema and parses the upstream's JSON (chat)", async () => {
    const { upstream, server } = await start(jsonAnswer);
    const completion = await server.openai.chat.completions.parse({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Summarise the weather." }],
      response_format: zodResponseFormat(Answer, "answer"),
    });
    expect(completion.choices[0]?.message.parsed).toEqual({ summary: "Rain all day" });
    expect(upstream.requests[0]?.body).toMatchObject({
      response_format: {
        type: "json_schema",
        json_schema: { name: "answer", strict: true, schema: { type: "object" } },
      },
    });
  });
});

describe("what the upstream rejects", () => {
  const rejectTools: UpstreamHandler = () => ({
    kind: "json",
    status: 400,
    body: openAIError('"auto" tool choice requires --enable-auto-tool-choice', {
      param: "tools",
    }),
  });

  it("reaches a chat client as the upstream's 400 and message", async () => {
    const { server } = await start(rejectTools);
    const error = await server.openai.chat.completions
      .create({ ...chatParams(), stream: false })
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).status).toBe(400);
    expect((error as Error).message).toContain("--enable-auto-tool-choice");
  });

  it("reaches a responses client as the upstream's 400 and message", async () => {
    const { server } = await start(rejectTools);
    const response = await fetch(`${server.url}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(responsesParams()),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string; param: string } };
    expect(body.error.message).toContain("--enable-auto-tool-choice");
    expect(body.error.param).toBe("tools");
  });
});

async function waitForBatch(server: TestServer, id: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await server.openai.batches.retrieve(id);
    if (
      ["completed", "failed", "expired", "cancelled"].includes(batch.status) ||
      Date.now() > deadline
    ) {
      return batch;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
