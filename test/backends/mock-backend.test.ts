import { describe, expect, it } from "vitest";
import {
  type Backend,
  BackendError,
  type FunctionTool,
  type GenerateRequest,
  type Generation,
  type GenerationEvent,
  type ModelMessage,
} from "../../src/backends/backend.js";
import { GenerationAssembler } from "../../src/backends/generation-events.js";
import { createLruCache } from "../../src/backends/mock/lru-cache.js";
import { createMockBackend } from "../../src/backends/mock/mock-backend.js";
import { DEFAULT_SAMPLING, outputText } from "../../src/backends/model-contract.js";
import { compileJsonSchema } from "../../src/lib/json-schema-validator.js";
import { generateRequest, userMessage } from "../helpers/generate-request.js";

const signal = new AbortController().signal;

const user = userMessage;

function request(
  content: string | readonly ModelMessage[],
  overrides: Partial<GenerateRequest> = {},
): GenerateRequest {
  return typeof content === "string"
    ? generateRequest(content, overrides)
    : generateRequest("", { messages: content, ...overrides });
}

interface Streamed {
  readonly events: GenerationEvent[];
  readonly assembled: Generation;
  readonly done: Generation;
}

/** The stream's events, what they assemble into, and the generation its `done` carried. */
async function stream(backend: Backend, req: GenerateRequest): Promise<Streamed> {
  const events: GenerationEvent[] = [];
  const assembler = new GenerationAssembler();
  let done: Generation | null = null;
  for await (const event of backend.streamGenerate(req, signal)) {
    events.push(event);
    if (event.type === "done") {
      expect(done).toBeNull();
      done = event.generation;
    } else {
      expect(done).toBeNull();
      assembler.push(event);
    }
  }
  if (done === null) {
    throw new Error("no done event");
  }
  const finished: Generation = done;
  return {
    events,
    done: finished,
    assembled: assembler.finish(finished.finishReason, finished.usage),
  };
}

/** generate and streamGenerate give the same generation, and the deltas assemble into it. */
async function both(
  req: GenerateRequest,
  backend: Backend = createMockBackend({ ttftMs: 0, tokensPerSecond: 0 }),
) {
  const generated = await backend.generate(req, signal);
  const streamed = await stream(backend, req);
  expect(streamed.done).toEqual(generated);
  expect(streamed.assembled).toEqual(generated);
  return { generated, events: streamed.events };
}

const weather: FunctionTool = {
  type: "function",
  name: "get_weather",
  description: "Get the current weather for a city",
  parameters: {
    type: "object",
    properties: {
      city: { type: "string" },
      unit: { type: "string", enum: ["celsius", "fahrenheit"] },
    },
    required: ["city", "unit"],
    additionalProperties: false,
  },
  strict: true,
};
const lookupOrder: FunctionTool = {
  type: "function",
  name: "lookup_order",
  description: "Find an order by its number",
  parameters: {
    type: "object",
    properties: { order_id: { type: "string", pattern: "^[0-9]{5}$" } },
    required: ["order_id"],
    additionalProperties: false,
  },
  strict: true,
};

describe("mock backend: text", () => {
  it("answers a repeated conversation the same way (cached) as a fresh backend does", async () => {
    const warm = createMockBackend({ ttftMs: 0, tokensPerSecond: 0 });
    const req = request("Why is the sky blue? Über große Städte 東京");
    const { generated: first } = await both(req, warm);
    const again = await warm.generate(req, signal);
    const fresh = await createMockBackend({ ttftMs: 0, tokensPerSecond: 0 }).generate(req, signal);
    expect(again).toEqual(first);
    expect(fresh).toEqual(first);
    expect(first.finishReason).toBe("stop");
    expect(outputText(first).length).toBeGreaterThan(20);
  });

  it("cuts at max_output_tokens the same way whether or not the reply is cached", async () => {
    const backend = createMockBackend({ ttftMs: 0, tokensPerSecond: 0 });
    const full = await backend.generate(request("How long should I boil an egg?"), signal);
    const { generated: cut } = await both(
      request("How long should I boil an egg?", { maxOutputTokens: 5 }),
      backend,
    );
    expect(cut.finishReason).toBe("length");
    expect(cut.usage.outputTokens).toBe(5);
    expect(outputText(full).startsWith(outputText(cut))).toBe(true);
  });

  it("cuts text of multi-byte characters the same way in both, at any limit", async () => {
    const backend = createMockBackend({ ttftMs: 0, tokensPerSecond: 0 });
    const sampling = { ...DEFAULT_SAMPLING, logprobs: true, topLogprobs: 1 };
    for (let limit = 1; limit <= 12; limit++) {
      await both(
        request("東京の天気は？ Über große Städte", { maxOutputTokens: limit, sampling }),
        backend,
      );
      await both(
        request("weather in Oslo?", {
          maxOutputTokens: limit,
          tools: [weather],
          reasoningEffort: "low",
        }),
        backend,
      );
    }
  });

  it("streams text one token at a time", async () => {
    const { events, generated } = await both(request("Tell me about tides"));
    const deltas = events.filter((event) => event.type === "text.delta");
    expect(events[0]).toEqual({ type: "item.start", index: 0, item: { type: "message" } });
    expect(deltas.length).toBe(generated.usage.outputTokens);
  });

  it("cuts before the first stop sequence", async () => {
    const full = outputText(
      await createMockBackend({ ttftMs: 0, tokensPerSecond: 0 }).generate(
        request("Tell me about tides"),
        signal,
      ),
    );
    const stop = full.split(" ").slice(3, 4).join("");
    const { generated } = await both(
      request("Tell me about tides", { sampling: { ...DEFAULT_SAMPLING, stop: ["zzz", stop] } }),
    );
    expect(outputText(generated)).toBe(full.slice(0, full.indexOf(stop)));
    expect(generated.finishReason).toBe("stop");
  });

  it("gives logprobs for every text token when asked", async () => {
    const sampling = { ...DEFAULT_SAMPLING, logprobs: true, topLogprobs: 2 };
    const { generated, events } = await both(request("Tell me about tides", { sampling }));
    const item = generated.items[0];
    if (item?.type !== "message" || item.parts[0]?.type !== "text") {
      throw new Error("expected a text message");
    }
    const logprobs = item.parts[0].logprobs ?? [];
    expect(logprobs.map((entry) => entry.token).join("")).toBe(item.parts[0].text);
    expect(logprobs.every((entry) => entry.logprob <= 0 && entry.topLogprobs.length === 2)).toBe(
      true,
    );
    expect(
      events
        .filter((event) => event.type === "text.delta")
        .every((event) => event.logprobs?.length === 1),
    ).toBe(true);
  });
});

describe("mock backend: tools", () => {
  it("calls the tool the user asks about, with arguments from the message", async () => {
    const { generated, events } = await both(
      request("What's the weather in Paris, in celsius?", { tools: [weather, lookupOrder] }),
    );
    expect(generated.finishReason).toBe("tool_calls");
    expect(generated.items).toHaveLength(1);
    const call = generated.items[0];
    if (call?.type !== "function_call") {
      throw new Error("expected a function call");
    }
    expect(call.name).toBe("get_weather");
    expect(call.callId).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(JSON.parse(call.arguments)).toEqual({ city: "Paris", unit: "celsius" });
    expect(generated.usage.outputTokens).toBeGreaterThan(0);
    expect(events[0]).toEqual({
      type: "item.start",
      index: 0,
      item: { type: "function_call", callId: call.callId, name: "get_weather" },
    });
    expect(events.filter((event) => event.type === "arguments.delta").length).toBeGreaterThan(3);
  });

  it("makes one call per matching tool, or one without parallel calls", async () => {
    const text = "Check the weather in Rome and look up order 12345";
    const parallel = await both(request(text, { tools: [weather, lookupOrder] }));
    expect(
      parallel.generated.items.map((item) =>
        item.type === "function_call" ? item.name : item.type,
      ),
    ).toEqual(["get_weather", "lookup_order"]);
    for (const item of parallel.generated.items) {
      if (item.type === "function_call") {
        const tool = item.name === "get_weather" ? weather : lookupOrder;
        expect(compileJsonSchema(tool.parameters)(JSON.parse(item.arguments))).toBe(true);
      }
    }
    const single = await both(
      request(text, { tools: [weather, lookupOrder], parallelToolCalls: false }),
    );
    expect(single.generated.items).toHaveLength(1);
  });

  it("answers from the tool's output after a round trip", async () => {
    const first = await createMockBackend({ ttftMs: 0, tokensPerSecond: 0 }).generate(
      request("weather in Oslo?", { tools: [weather] }),
      signal,
    );
    const call = first.items[0];
    if (call?.type !== "function_call") {
      throw new Error("expected a call");
    }
    const messages: ModelMessage[] = [
      user("weather in Oslo?"),
      {
        role: "assistant",
        content: [],
        toolCalls: [{ id: call.callId, name: call.name, arguments: call.arguments }],
      },
      { role: "tool", toolCallId: call.callId, content: [{ type: "text", text: '{"temp":21}' }] },
    ];
    const { generated } = await both(request(messages, { tools: [weather] }));
    expect(generated.finishReason).toBe("stop");
    expect(outputText(generated)).toContain('Based on get_weather: {"temp":21}');
    // tool_choice required still calls.
    const forced = await both(
      request(messages, { tools: [weather], toolChoice: { type: "required" } }),
    );
    expect(forced.generated.finishReason).toBe("tool_calls");
  });

  it("honours tool_choice none, required and a named function", async () => {
    const tools = [weather, lookupOrder];
    const none = await both(request("weather in Oslo?", { tools, toolChoice: { type: "none" } }));
    expect(none.generated.items.map((item) => item.type)).toEqual(["message"]);
    const required = await both(request("hello", { tools, toolChoice: { type: "required" } }));
    expect(
      required.generated.items.map((item) => (item.type === "function_call" ? item.name : "")),
    ).toEqual(["get_weather"]);
    const named = await both(
      request("hello", { tools, toolChoice: { type: "function", name: "lookup_order" } }),
    );
    expect(
      named.generated.items.map((item) => (item.type === "function_call" ? item.name : "")),
    ).toEqual(["lookup_order"]);
  });

  it("forces or forbids calls by the mock_tool_call knob, and rejects an unknown tool", async () => {
    const tools = [weather, lookupOrder];
    const forced = await both(
      request("hello", { tools, metadata: { mock_tool_call: "lookup_order" } }),
    );
    expect(forced.generated.finishReason).toBe("tool_calls");
    const forbidden = await both(
      request("weather in Oslo?", { tools, metadata: { mock_tool_call: "none" } }),
    );
    expect(forbidden.generated.finishReason).toBe("stop");
    const backend = createMockBackend({ ttftMs: 0, tokensPerSecond: 0 });
    await expect(
      backend.generate(request("hi", { tools, metadata: { mock_tool_call: "nope" } }), signal),
    ).rejects.toMatchObject({
      status: 400,
      param: "metadata.mock_tool_call",
    });
  });
});

describe("mock backend: formats, refusals, reasoning, images", () => {
  const schema = {
    type: "object",
    properties: {
      city: { type: "string" },
      days: { type: "array", items: { type: "string", format: "date" }, minItems: 1 },
      confidence: { type: "number", minimum: 0, maximum: 1 },
    },
    required: ["city", "days", "confidence"],
    additionalProperties: false,
  };

  it("writes JSON valid against a json_schema format", async () => {
    const { generated } = await both(
      request("Plan a trip to Kyoto", {
        outputFormat: {
          type: "json_schema",
          name: "trip",
          schema,
          strict: true,
          description: null,
        },
      }),
    );
    const value = JSON.parse(outputText(generated));
    expect(compileJsonSchema(schema)(value)).toBe(true);
    expect(value.city).toBe("Kyoto");
  });

  it("answers 400, not 500, for a schema it cannot use", async () => {
    const backend = createMockBackend({ ttftMs: 0, tokensPerSecond: 0 });
    const broken = {
      type: "object",
      properties: { a: { $ref: "#/$defs/missing" } },
      required: ["a"],
    };
    await expect(
      backend.generate(
        request("hi", {
          outputFormat: {
            type: "json_schema",
            name: "x",
            schema: broken,
            strict: false,
            description: null,
          },
        }),
        signal,
      ),
    ).rejects.toMatchObject({ status: 400, code: "invalid_json_schema" });
    const impossible = {
      type: "object",
      properties: { n: { type: "integer", minimum: 2, maximum: 1 } },
      required: ["n"],
    };
    await expect(
      backend.generate(
        request("hi", {
          tools: [{ ...weather, parameters: impossible }],
          toolChoice: { type: "required" },
        }),
        signal,
      ),
    ).rejects.toMatchObject({ status: 400, code: "invalid_function_parameters" });
  });

  it("writes a JSON object for json_object", async () => {
    const { generated } = await both(
      request("Plan a trip", { outputFormat: { type: "json_object" } }),
    );
    const value = JSON.parse(outputText(generated));
    expect(typeof value.answer).toBe("string");
  });

  it("refuses by the mock_refusal knob", async () => {
    const { generated, events } = await both(
      request("hello", { metadata: { mock_refusal: "true" }, tools: [weather] }),
    );
    expect(generated.items).toEqual([
      {
        type: "message",
        parts: [{ type: "refusal", refusal: "I'm sorry, but I can't help with that." }],
      },
    ]);
    expect(events.some((event) => event.type === "refusal.delta")).toBe(true);
    const custom = await both(request("hello", { metadata: { mock_refusal: "Not today." } }));
    expect(custom.generated.items[0]).toEqual({
      type: "message",
      parts: [{ type: "refusal", refusal: "Not today." }],
    });
  });

  it("reasons first when a reasoning effort is set, counting reasoning tokens in output tokens", async () => {
    const { generated, events } = await both(
      request("weather in Oslo?", { tools: [weather], reasoningEffort: "medium" }),
    );
    expect(generated.items.map((item) => item.type)).toEqual(["reasoning", "function_call"]);
    const reasoning = generated.items[0];
    expect(reasoning?.type === "reasoning" && reasoning.text.includes("get_weather")).toBe(true);
    expect(generated.usage.reasoningTokens).toBeGreaterThan(0);
    expect(generated.usage.outputTokens).toBeGreaterThan(generated.usage.reasoningTokens);
    expect(events.filter((event) => event.type === "reasoning.delta").length).toBe(
      generated.usage.reasoningTokens,
    );
    const none = await both(request("weather in Oslo?", { reasoningEffort: "none" }));
    expect(none.generated.items.map((item) => item.type)).toEqual(["message"]);
    const knob = await both(request("weather in Oslo?", { metadata: { mock_reasoning: "true" } }));
    expect(knob.generated.items.map((item) => item.type)).toEqual(["reasoning", "message"]);
  });

  it("counts images as OpenAI does and acknowledges them", async () => {
    const image = (detail: "low" | "high") =>
      ({ type: "image", url: "https://example.com/cat.png", detail }) as const;
    const text = { type: "text", text: "What is in this picture?" } as const;
    const plain = await both(request([{ role: "user", content: [text] }]));
    const low = await both(request([{ role: "user", content: [text, image("low")] }]));
    const high = await both(
      request([{ role: "user", content: [text, image("high"), image("high")] }]),
    );
    expect(low.generated.usage.inputTokens - plain.generated.usage.inputTokens).toBe(85);
    expect(high.generated.usage.inputTokens - plain.generated.usage.inputTokens).toBe(2 * 765);
    expect(outputText(low.generated)).toMatch(/^I see an image \(1024×1024\)\. /);
    expect(outputText(high.generated)).toMatch(/^I see 2 images\. /);
  });

  it("rejects image data it cannot read, as OpenAI does", async () => {
    const backend = createMockBackend({ ttftMs: 0, tokensPerSecond: 0 });
    const bad = { type: "image", url: "data:image/png;base64,aGVsbG8=", detail: "auto" } as const;
    await expect(
      backend.generate(request([{ role: "user", content: [bad] }]), signal),
    ).rejects.toBeInstanceOf(BackendError);
  });
});

describe("createLruCache", () => {
  it("forgets the least recently used entry first", () => {
    const cache = createLruCache<string, number>(2);
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1);
    cache.set("c", 3);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(1);
    expect(cache.get("c")).toBe(3);
  });

  it("never evicts an entry read within the last half of its capacity in writes", () => {
    const cache = createLruCache<number, number>(100);
    for (let key = 0; key < 100; key++) {
      cache.set(key, key);
    }
    // Key 0 is the oldest and key 80 fairly new; both are read, then 100 more keys arrive in
    // steps, each read again within 50 writes.
    for (let next = 100; next < 200; next += 25) {
      expect(cache.get(0)).toBe(0);
      expect(cache.get(80)).toBe(80);
      for (let key = next; key < next + 25; key++) {
        cache.set(key, key);
      }
    }
    expect(cache.get(0)).toBe(0);
    expect(cache.get(80)).toBe(80);
    // The entries never read went, oldest first: 100 slots hold 0, 80 and the newest 98.
    expect(cache.get(1)).toBeUndefined();
    expect(cache.get(101)).toBeUndefined();
    expect(cache.get(199)).toBe(199);
  });
});
