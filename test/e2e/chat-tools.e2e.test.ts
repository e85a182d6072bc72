import { Agent, OpenAIChatCompletionsModel, run } from "@openai/agents";
import type OpenAI from "openai";
import { toFile } from "openai";
import { zodFunction, zodResponseFormat } from "openai/helpers/zod";
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionTool,
} from "openai/resources/chat/completions";
import OpenAI7 from "openai7";
import {
  zodFunction as zodFunction7,
  zodResponseFormat as zodResponseFormat7,
} from "openai7/helpers/zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/**
 * Chat Completions tools, formats, refusals and logprobs through the official SDK and its
 * helpers (stream reassembly, runTools, parse) against the real server and the mock, whose
 * rules (MOCK-RULES) decide when it calls a tool: a named tool in the last user message.
 */

const MODEL = "gpt-4o-mini";

const WEATHER: ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather for a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } },
      required: ["city", "unit"],
      additionalProperties: false,
    },
    strict: true,
  },
};
const TIME: ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_time",
    description: "Get the local time in a timezone",
    parameters: {
      type: "object",
      properties: { timezone: { type: "string" } },
      required: ["timezone"],
      additionalProperties: false,
    },
    strict: true,
  },
};
const ASK_WEATHER = [
  { role: "user" as const, content: "What is the weather in Paris? Use get_weather." },
];

const Answer0 = z.object({ city: z.string(), population: z.number().int() });

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close({ removeData: true });
});

async function collect(params: Omit<ChatCompletionCreateParamsNonStreaming, "stream">) {
  const stream = s.openai.chat.completions.stream({
    ...params,
    stream_options: { include_usage: true },
  });
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) {
    expectMatchesComponent("CreateChatCompletionStreamResponse", chunk);
    chunks.push(chunk);
  }
  return { chunks, final: await stream.finalChatCompletion() };
}

describe("chat tool calls", () => {
  it("answers with tool_calls, content null and finish_reason tool_calls", async () => {
    const completion = await s.openai.chat.completions.create({
      model: MODEL,
      messages: ASK_WEATHER,
      tools: [WEATHER],
    });
    expectMatchesComponent("CreateChatCompletionResponse", completion);
    const [choice] = completion.choices;
    expect(choice?.finish_reason).toBe("tool_calls");
    expect(choice?.message.content).toBeNull();
    const calls = choice?.message.tool_calls ?? [];
    expect(calls).toHaveLength(1);
    const call = calls[0];
    expect(call?.type).toBe("function");
    if (call?.type !== "function") {
      throw new Error("expected a function call");
    }
    expect(call.id).toMatch(/^call_/);
    expect(call.function.name).toBe("get_weather");
    const args = JSON.parse(call.function.arguments) as { city: string; unit: string };
    expect(Object.keys(args).sort()).toEqual(["city", "unit"]);
    expect(["c", "f"]).toContain(args.unit);
  });

  it("streams the calls as indexed deltas the SDK reassembles into the sync answer", async () => {
    const params = {
      model: MODEL,
      messages: [{ role: "user" as const, content: "Use get_weather and get_time for Paris." }],
      tools: [WEATHER, TIME],
    };
    const sync = await s.openai.chat.completions.create(params);
    const { chunks, final } = await collect(params);

    const toolDeltas = chunks.flatMap((chunk) =>
      chunk.choices.flatMap((c) => c.delta.tool_calls ?? []),
    );
    // Each call opens with id, type, name and empty arguments; later fragments only add arguments.
    for (const index of [0, 1]) {
      const fragments = toolDeltas.filter((delta) => delta.index === index);
      expect(fragments[0]).toMatchObject({ id: expect.stringMatching(/^call_/), type: "function" });
      expect(fragments[0]?.function).toMatchObject({ name: expect.any(String), arguments: "" });
      for (const later of fragments.slice(1)) {
        expect(later.id).toBeUndefined();
        expect(later.function?.name).toBeUndefined();
      }
    }
    // As OpenAI streams an answer that opens with a call: the role, content null and the
    // first call's opening fragment in one chunk.
    expect(chunks[0]?.choices[0]?.delta).toMatchObject({
      role: "assistant",
      content: null,
      tool_calls: [{ index: 0, type: "function" }],
    });
    const finishes = chunks
      .flatMap((chunk) => chunk.choices.map((c) => c.finish_reason))
      .filter(Boolean);
    expect(finishes).toEqual(["tool_calls"]);
    expect(chunks.at(-1)?.usage?.total_tokens).toBe(sync.usage?.total_tokens);

    expect(final.choices[0]?.finish_reason).toBe("tool_calls");
    // The helper adds parsed_arguments for strict tools; the rest is the sync answer's calls.
    const reassembled = (final.choices[0]?.message.tool_calls ?? []).map((call) => {
      if (call.type !== "function") {
        throw new Error("expected a function call");
      }
      expect(call.function.parsed_arguments).toEqual(JSON.parse(call.function.arguments));
      return {
        id: call.id,
        type: call.type,
        function: { name: call.function.name, arguments: call.function.arguments },
      };
    });
    expect(reassembled).toEqual(sync.choices[0]?.message.tool_calls);
    expect(
      sync.choices[0]?.message.tool_calls?.map((c) =>
        c.type === "function" ? c.function.name : "",
      ),
    ).toEqual(["get_weather", "get_time"]);
  });

  it("makes one call when parallel_tool_calls is false, and the named one when tool_choice says so", async () => {
    const messages = [
      { role: "user" as const, content: "Use get_weather and get_time for Paris." },
    ];
    const single = await s.openai.chat.completions.create({
      model: MODEL,
      messages,
      tools: [WEATHER, TIME],
      parallel_tool_calls: false,
    });
    expect(single.choices[0]?.message.tool_calls).toHaveLength(1);
    const named = await s.openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Hello there" }],
      tools: [WEATHER, TIME],
      tool_choice: { type: "function", function: { name: "get_time" } },
    });
    const call = named.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === "function" ? call.function.name : null).toBe("get_time");
    const none = await s.openai.chat.completions.create({
      model: MODEL,
      messages,
      tools: [WEATHER, TIME],
      tool_choice: "none",
    });
    expect(none.choices[0]?.message.tool_calls).toBeUndefined();
    expect(none.choices[0]?.finish_reason).toBe("stop");
  });

  it("gives each of n=2 choices its own calls", async () => {
    const completion = await s.openai.chat.completions.create({
      model: MODEL,
      messages: ASK_WEATHER,
      tools: [WEATHER],
      n: 2,
    });
    expectMatchesComponent("CreateChatCompletionResponse", completion);
    expect(completion.choices.map((c) => c.index)).toEqual([0, 1]);
    for (const choice of completion.choices) {
      expect(choice.finish_reason).toBe("tool_calls");
      expect(choice.message.tool_calls).toHaveLength(1);
    }
  });

  it("runs a real function with runTools and answers from its output", async () => {
    const invoked: unknown[] = [];
    const runner = s.openai.chat.completions.runTools({
      model: MODEL,
      messages: ASK_WEATHER,
      tools: [
        zodFunction({
          name: "get_weather",
          description: "Get the current weather for a city",
          parameters: z.object({ city: z.string(), unit: z.enum(["c", "f"]) }),
          function: (args) => {
            invoked.push(args);
            return { temperature: 21, sky: "sunny" };
          },
        }),
      ],
    });
    const content = await runner.finalContent();
    expect(invoked).toHaveLength(1);
    expect(invoked[0]).toMatchObject({
      city: expect.any(String),
      unit: expect.stringMatching(/^[cf]$/),
    });
    expect(content).toMatch(/21/);
    // The runner sent the call and its result back as history; the server accepted both.
    expect(runner.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "assistant"]);
  });

  it("runs tools with runTools streaming, reassembling each turn from chunks", async () => {
    const invoked: unknown[] = [];
    const runner = s.openai.chat.completions.runTools({
      model: MODEL,
      messages: ASK_WEATHER,
      stream: true,
      tools: [
        zodFunction({
          name: "get_weather",
          description: "Get the current weather for a city",
          parameters: z.object({ city: z.string(), unit: z.enum(["c", "f"]) }),
          function: (args) => {
            invoked.push(args);
            return { temperature: 23 };
          },
        }),
      ],
    });
    expect(await runner.finalContent()).toMatch(/23/);
    expect(invoked).toHaveLength(1);
  });

  it("parses a strict function's arguments with chat.completions.parse", async () => {
    const completion = await s.openai.chat.completions.parse({
      model: MODEL,
      messages: ASK_WEATHER,
      tools: [
        zodFunction({
          name: "get_weather",
          parameters: z.object({ city: z.string(), unit: z.enum(["c", "f"]) }),
        }),
      ],
    });
    const call = completion.choices[0]?.message.tool_calls?.[0];
    expect(call?.function.parsed_arguments).toMatchObject({ city: expect.any(String) });
  });

  it("answers a tool result with text that uses it", async () => {
    const first = await s.openai.chat.completions.create({
      model: MODEL,
      messages: ASK_WEATHER,
      tools: [WEATHER],
    });
    const message = first.choices[0]?.message;
    const call = message?.tool_calls?.[0];
    if (message === undefined || call === undefined) {
      throw new Error("expected a call");
    }
    const second = await s.openai.chat.completions.create({
      model: MODEL,
      tools: [WEATHER],
      // The response message as it came back, appended as history.
      messages: [
        ...ASK_WEATHER,
        message,
        { role: "tool", tool_call_id: call.id, content: '{"temperature":17}' },
      ],
    });
    expect(second.choices[0]?.finish_reason).toBe("stop");
    expect(second.choices[0]?.message.content).toMatch(/17/);
  });

  it("answers the deprecated functions with function_call and finish_reason function_call", async () => {
    const params = {
      model: MODEL,
      messages: ASK_WEATHER,
      functions: [
        WEATHER.type === "function" ? { ...WEATHER.function, strict: undefined } : { name: "x" },
      ],
    };
    const completion = await s.openai.chat.completions.create(params);
    expectMatchesComponent("CreateChatCompletionResponse", completion);
    expect(completion.choices[0]?.finish_reason).toBe("function_call");
    expect(completion.choices[0]?.message.tool_calls).toBeUndefined();
    expect(completion.choices[0]?.message.function_call?.name).toBe("get_weather");
    const { final } = await collect(params);
    expect(final.choices[0]?.finish_reason).toBe("function_call");
    expect(final.choices[0]?.message.function_call).toEqual(
      completion.choices[0]?.message.function_call,
    );
  });
});

describe("chat structured output, refusals and logprobs", () => {
  const Answer = z.object({
    city: z.string(),
    population: z.number().int(),
    landmarks: z.array(z.string()),
  });

  it("parses a json_schema answer with chat.completions.parse and zodResponseFormat", async () => {
    const completion = await s.openai.chat.completions.parse({
      model: MODEL,
      messages: [{ role: "user", content: "Tell me about Paris." }],
      response_format: zodResponseFormat(Answer, "city_facts"),
    });
    const parsed = completion.choices[0]?.message.parsed;
    expect(Answer.parse(parsed)).toEqual(parsed);
    expect(completion.choices[0]?.message.refusal).toBeNull();
  });

  it("streams a json_schema answer the stream helper parses", async () => {
    const stream = s.openai.chat.completions.stream({
      model: MODEL,
      messages: [{ role: "user", content: "Tell me about Paris." }],
      response_format: zodResponseFormat(Answer, "city_facts"),
    });
    const final = await stream.finalChatCompletion();
    expect(Answer.safeParse(final.choices[0]?.message.parsed).success).toBe(true);
  });

  it("answers json_object with a JSON object", async () => {
    const completion = await s.openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Answer in JSON: what is 2+2?" }],
      response_format: { type: "json_object" },
    });
    const value = JSON.parse(completion.choices[0]?.message.content ?? "") as unknown;
    expect(typeof value === "object" && value !== null && !Array.isArray(value)).toBe(true);
  });

  it("returns a refusal as message.refusal with content null, sync and streamed", async () => {
    const params = {
      model: MODEL,
      messages: [{ role: "user" as const, content: "Tell me about Paris." }],
      metadata: { mock_refusal: "I can't help with that." },
    };
    const completion = await s.openai.chat.completions.create(params);
    expectMatchesComponent("CreateChatCompletionResponse", completion);
    expect(completion.choices[0]?.message).toMatchObject({
      content: null,
      refusal: "I can't help with that.",
    });
    const { chunks, final } = await collect(params);
    expect(
      chunks.some((chunk) =>
        chunk.choices.some((c) => typeof c.delta.refusal === "string" && c.delta.refusal !== ""),
      ),
    ).toBe(true);
    expect(final.choices[0]?.message.refusal).toBe("I can't help with that.");
    const parsed = await s.openai.chat.completions.parse({
      ...params,
      response_format: zodResponseFormat(Answer, "city_facts"),
    });
    expect(parsed.choices[0]?.message.parsed).toBeNull();
    expect(parsed.choices[0]?.message.refusal).toBe("I can't help with that.");
  });

  it("returns logprobs per token with top_logprobs alternatives, for every choice, sync and streamed", async () => {
    const params = {
      model: MODEL,
      messages: [{ role: "user" as const, content: "Say something short." }],
      logprobs: true,
      top_logprobs: 2,
      n: 2,
    };
    const completion = await s.openai.chat.completions.create(params);
    expectMatchesComponent("CreateChatCompletionResponse", completion);
    for (const choice of completion.choices) {
      const tokens = choice.logprobs?.content ?? [];
      expect(tokens.length).toBeGreaterThan(0);
      expect(tokens.map((token) => token.token).join("")).toBe(choice.message.content);
      for (const token of tokens) {
        expect(token.logprob).toBeLessThanOrEqual(0);
        expect(token.top_logprobs).toHaveLength(2);
        expect(token.bytes).toEqual([...Buffer.from(token.token)]);
      }
      expect(choice.logprobs?.refusal).toBeNull();
    }
    const { final } = await collect(params);
    expect(final.choices.map((c) => c.logprobs?.content)).toEqual(
      completion.choices.map((c) => c.logprobs?.content),
    );
    const without = await s.openai.chat.completions.create({
      model: MODEL,
      messages: params.messages,
    });
    expect(without.choices[0]?.logprobs).toBeNull();
  });
});

describe("chat tools in a batch", () => {
  it("runs a batch line with tools and a json_schema format as the sync call would", async () => {
    const toolBody = { model: MODEL, messages: ASK_WEATHER, tools: [WEATHER] };
    const formatBody = {
      model: MODEL,
      messages: [{ role: "user", content: "Tell me about Paris." }],
      response_format: zodResponseFormat(Answer0, "city_facts"),
    };
    const lines = [
      { custom_id: "tools", method: "POST", url: "/v1/chat/completions", body: toolBody },
      { custom_id: "format", method: "POST", url: "/v1/chat/completions", body: formatBody },
    ];
    const file = await s.openai.files.create({
      file: await toFile(
        Buffer.from(lines.map((line) => JSON.stringify(line)).join("\n")),
        "in.jsonl",
      ),
      purpose: "batch",
    });
    let batch = await s.openai.batches.create({
      input_file_id: file.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const deadline = Date.now() + 20_000;
    while (batch.status !== "completed" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      batch = await s.openai.batches.retrieve(batch.id);
    }
    expect(batch.status).toBe("completed");
    const output = await (await s.openai.files.content(batch.output_file_id ?? "")).text();
    const results = new Map(
      output
        .trim()
        .split("\n")
        .map(
          (line) =>
            JSON.parse(line) as {
              custom_id: string;
              response: { status_code: number; body: OpenAI.ChatCompletion };
            },
        )
        .map((line) => [line.custom_id, line.response]),
    );
    const tools = results.get("tools");
    expect(tools?.status_code).toBe(200);
    const sync = await s.openai.chat.completions.create(toolBody);
    expect(tools?.body.choices[0]?.finish_reason).toBe("tool_calls");
    expect(tools?.body.choices[0]?.message.tool_calls).toEqual(sync.choices[0]?.message.tool_calls);
    const format = results.get("format");
    expect(format?.status_code).toBe(200);
    expect(
      Answer0.safeParse(JSON.parse(format?.body.choices[0]?.message.content ?? "")).success,
    ).toBe(true);
  });
});

describe("the openai 7.x SDK", () => {
  const client = () => new OpenAI7({ baseURL: `${s.url}/v1`, apiKey: "sk-test", maxRetries: 0 });

  it("reassembles streamed tool calls, runs tools and parses a zod format", async () => {
    const openai = client();
    const stream = openai.chat.completions.stream({
      model: MODEL,
      messages: ASK_WEATHER,
      tools: [WEATHER],
    });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.finish_reason).toBe("tool_calls");
    const call = final.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === "function" ? call.function.name : null).toBe("get_weather");

    const invoked: unknown[] = [];
    const runner = openai.chat.completions.runTools({
      model: MODEL,
      messages: ASK_WEATHER,
      tools: [
        zodFunction7({
          name: "get_weather",
          parameters: z.object({ city: z.string() }),
          function: (args) => {
            invoked.push(args);
            return { temperature: 12 };
          },
        }),
      ],
    });
    expect(await runner.finalContent()).toMatch(/12/);
    expect(invoked).toHaveLength(1);

    const parsed = await openai.chat.completions.parse({
      model: MODEL,
      messages: [{ role: "user", content: "Tell me about Paris." }],
      response_format: zodResponseFormat7(Answer0, "city_facts"),
    });
    expect(Answer0.safeParse(parsed.choices[0]?.message.parsed).success).toBe(true);
  });
});

describe("@openai/agents in chat-completions mode", () => {
  it("runs a two-turn session, the second turn carrying the first as history", async () => {
    const agent = new Agent({
      name: "Helper",
      instructions: "You are helpful.",
      model: new OpenAIChatCompletionsModel(s.openai as never, MODEL),
    });
    const first = await run(agent, "Hi, I'm Ana.");
    expect(typeof first.finalOutput).toBe("string");
    const second = await run(agent, [
      ...first.history,
      { role: "user", content: "What is my name?" },
    ]);
    expect(typeof second.finalOutput).toBe("string");
    expect((second.finalOutput ?? "").length).toBeGreaterThan(0);
  });

  it("runs an agent whose function tool is really invoked", async () => {
    const { tool } = await import("@openai/agents");
    const invoked: unknown[] = [];
    const agent = new Agent({
      name: "Weather",
      instructions: "Answer weather questions.",
      model: new OpenAIChatCompletionsModel(s.openai as never, MODEL),
      tools: [
        tool({
          name: "get_weather",
          description: "Get the current weather for a city",
          parameters: z.object({ city: z.string() }),
          execute: (args) => {
            invoked.push(args);
            return "It is 19 degrees and cloudy.";
          },
        }),
      ],
    });
    const result = await run(agent, "What is the weather in Paris? Use get_weather.");
    expect(invoked).toHaveLength(1);
    expect(String(result.finalOutput)).toMatch(/19/);
    const streamed = await run(agent, "What is the weather in Paris? Use get_weather.", {
      stream: true,
    });
    for await (const _event of streamed) {
      // Drain the events; the run completes after the last.
    }
    await streamed.completed;
    expect(invoked).toHaveLength(2);
    expect(String(streamed.finalOutput)).toMatch(/19/);
  });
});
