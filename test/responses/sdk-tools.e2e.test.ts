import { zodTextFormat } from "openai/helpers/zod";
import type {
  FunctionTool,
  Response,
  ResponseFunctionToolCall,
  ResponseInputItem,
  ResponseStreamEvent,
} from "openai/resources/responses/responses";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/**
 * The official `openai` SDK against ferry's mock: function calling (a round trip by the input
 * array and by previous_response_id, streamed, in the background), and `responses.parse` with
 * a zod text format. The mock's tool rule (MOCK-RULES.md): with `auto`, it calls a tool whose
 * name or description shares a word with the last user message, and answers a tool's output
 * with text that uses it.
 */

const MODEL = "gpt-4o-mini";

const getWeather: FunctionTool = {
  type: "function",
  name: "get_weather",
  description: "Get the current weather in a city",
  parameters: {
    type: "object",
    properties: {
      city: { type: "string", description: "The city" },
      unit: { type: "string", enum: ["celsius", "fahrenheit"] },
    },
    required: ["city", "unit"],
    additionalProperties: false,
  },
  strict: true,
};

const getTime: FunctionTool = {
  type: "function",
  name: "get_time",
  description: "Get the local time in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close({ removeData: true }));

function functionCalls(response: Response): ResponseFunctionToolCall[] {
  return response.output.filter(
    (item): item is ResponseFunctionToolCall => item.type === "function_call",
  );
}

/** What the client's code would run: the tool, with the arguments the model wrote. */
function runTool(call: ResponseFunctionToolCall | undefined): string {
  if (call === undefined) {
    throw new Error("the model made no call");
  }
  const args = JSON.parse(call.arguments) as { city: string };
  return JSON.stringify({ city: args.city, temperature: 21, conditions: "sunny" });
}

describe("function calling with the openai SDK", () => {
  it("round-trips a call through the input array", async () => {
    const input: ResponseInputItem[] = [
      { role: "user", content: "What is the weather in Paris right now?" },
    ];
    const first = await s.openai.responses.create({ model: MODEL, input, tools: [getWeather] });
    expectMatchesComponent("Response", first);
    expect(first.status).toBe("completed");
    const [call] = functionCalls(first);
    expect(call).toMatchObject({ type: "function_call", name: "get_weather", status: "completed" });
    expect(call?.id).toMatch(/^fc_/);
    expect(JSON.parse(call?.arguments ?? "")).toMatchObject({ unit: expect.any(String) });
    expect(first.output_text).toBe("");

    // The SDK's way: send the output back as input, then the tool's result.
    const second = await s.openai.responses.create({
      model: MODEL,
      tools: [getWeather],
      input: [
        ...input,
        ...(first.output as ResponseInputItem[]),
        { type: "function_call_output", call_id: call?.call_id ?? "", output: runTool(call) },
      ],
    });
    expectMatchesComponent("Response", second);
    expect(functionCalls(second)).toEqual([]);
    expect(second.output_text).toContain("21");
    // A stored response reads back with the same output.
    const stored = await s.openai.responses.retrieve(first.id);
    expect(stored.output).toEqual(first.output);
  });

  it("round-trips a call through previous_response_id", async () => {
    const first = await s.openai.responses.create({
      model: MODEL,
      input: "What is the weather in Paris?",
      tools: [getWeather],
    });
    const [call] = functionCalls(first);
    expect(call?.name).toBe("get_weather");
    const second = await s.openai.responses.create({
      model: MODEL,
      tools: [getWeather],
      previous_response_id: first.id,
      input: [
        { type: "function_call_output", call_id: call?.call_id ?? "", output: runTool(call) },
      ],
    });
    expect(second.status).toBe("completed");
    expect(second.output_text).toContain("sunny");
    const items = await s.openai.responses.inputItems.list(second.id);
    expect(items.data.map((item) => item.type)).toEqual(["function_call_output"]);
  });

  it("makes several calls in one response, and one when parallel calls are off", async () => {
    const input = "What is the weather and the local time in Paris?";
    const both = await s.openai.responses.create({
      model: MODEL,
      input,
      tools: [getWeather, getTime],
    });
    expect(functionCalls(both).map((call) => call.name)).toEqual(["get_weather", "get_time"]);
    expect(new Set(functionCalls(both).map((call) => call.call_id)).size).toBe(2);
    const one = await s.openai.responses.create({
      model: MODEL,
      input,
      tools: [getWeather, getTime],
      parallel_tool_calls: false,
    });
    expect(functionCalls(one)).toHaveLength(1);
  });

  it("streams function calls with responses.stream, every event as the spec says", async () => {
    const stream = s.openai.responses.stream({
      model: MODEL,
      input: "What is the weather and the local time in Paris?",
      tools: [getWeather, getTime],
    });
    const events: ResponseStreamEvent[] = [];
    const snapshots: string[] = [];
    stream.on("event", (event) => events.push(event));
    stream.on("response.function_call_arguments.delta", (event) => snapshots.push(event.snapshot));
    const final = await stream.finalResponse();
    for (const event of events) {
      expectMatchesComponent("ResponseStreamEvent", event);
    }
    const calls = functionCalls(final);
    expect(calls.map((call) => call.name)).toEqual(["get_weather", "get_time"]);
    // Per call: added, argument deltas, arguments done (with the name), item done.
    for (const [index, call] of calls.entries()) {
      const own = events.filter((event) => "output_index" in event && event.output_index === index);
      const types = own.map((event) => event.type);
      expect(types[0]).toBe("response.output_item.added");
      expect(types.at(-2)).toBe("response.function_call_arguments.done");
      expect(types.at(-1)).toBe("response.output_item.done");
      expect(
        types.slice(1, -2).every((type) => type === "response.function_call_arguments.delta"),
      ).toBe(true);
      expect(own.at(-2)).toMatchObject({
        name: call.name,
        arguments: call.arguments,
        item_id: call.id,
      });
    }
    expect(snapshots.at(-1)).toBe(calls.at(-1)?.arguments);
    const completed = events.at(-1) as { type: string; response: Response };
    expect(completed.type).toBe("response.completed");
    // As stored, as streamed (`final` also has the SDK's own parsed_arguments).
    const stored = await s.openai.responses.retrieve(final.id);
    expect(stored.output).toEqual(completed.response.output);
  });

  it("runs calls in the background, streamed and not", async () => {
    const queued = await s.openai.responses.create({
      model: MODEL,
      input: "What is the weather in Paris?",
      tools: [getWeather],
      background: true,
    });
    let done = queued;
    for (
      let tries = 0;
      tries < 200 && (done.status === "queued" || done.status === "in_progress");
      tries++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      done = await s.openai.responses.retrieve(queued.id);
    }
    expect(done.status).toBe("completed");
    expect(functionCalls(done).map((call) => call.name)).toEqual(["get_weather"]);

    const stream = await s.openai.responses.create({
      model: MODEL,
      input: "What is the weather in Paris?",
      tools: [getWeather],
      background: true,
      stream: true,
    });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) {
      events.push(event);
    }
    for (const event of events) {
      expectMatchesComponent("ResponseStreamEvent", event);
    }
    const last = events.at(-1);
    expect(last?.type).toBe("response.completed");
    const final = (last as { response: Response }).response;
    expect(functionCalls(final)).toHaveLength(1);
    expect(events.map((event) => event.type)).toContain("response.function_call_arguments.done");
  });
});

describe("batches", () => {
  it("answers a line with tools and a line with a format as the sync calls do", async () => {
    const format = {
      type: "json_schema" as const,
      name: "answer",
      strict: true,
      schema: {
        type: "object",
        properties: { answer: { type: "string" }, confidence: { type: "number" } },
        required: ["answer", "confidence"],
        additionalProperties: false,
      },
    };
    const bodies = {
      tools: { model: MODEL, input: "What is the weather in Paris?", tools: [getWeather] },
      format: { model: MODEL, input: "Capital of France?", text: { format } },
    };
    const jsonl = Object.entries(bodies)
      .map(([id, body]) =>
        JSON.stringify({ custom_id: id, method: "POST", url: "/v1/responses", body }),
      )
      .join("\n");
    const file = await s.openai.files.create({
      file: new File([jsonl], "lines.jsonl"),
      purpose: "batch",
    });
    let batch = await s.openai.batches.create({
      input_file_id: file.id,
      endpoint: "/v1/responses",
      completion_window: "24h",
    });
    for (let tries = 0; tries < 400 && batch.status !== "completed"; tries++) {
      expect(["validating", "in_progress", "finalizing", "completed"]).toContain(batch.status);
      await new Promise((resolve) => setTimeout(resolve, 50));
      batch = await s.openai.batches.retrieve(batch.id);
    }
    expect(batch.status).toBe("completed");
    const text = await (await s.openai.files.content(batch.output_file_id ?? "")).text();
    const lines = new Map(
      text
        .trim()
        .split("\n")
        .map(
          (line) =>
            JSON.parse(line) as {
              custom_id: string;
              response: { status_code: number; body: Response };
            },
        )
        .map((line) => [line.custom_id, line.response]),
    );
    const withoutIds = (response: Response) =>
      response.output.map((item) => {
        const { id: _id, ...rest } = item as unknown as Record<string, unknown>;
        return rest;
      });
    for (const [id, body] of Object.entries(bodies)) {
      const line = lines.get(id);
      expect(line?.status_code).toBe(200);
      expectMatchesComponent("Response", line?.body);
      const sync = (await s.openai.responses.create(
        body as Parameters<typeof s.openai.responses.create>[0],
      )) as Response;
      expect(withoutIds(line?.body as Response)).toEqual(withoutIds(sync));
    }
    expect(functionCalls(lines.get("tools")?.body as Response)[0]?.name).toBe("get_weather");
  });
});

describe("structured output with the openai SDK", () => {
  const CalendarEvent = z.object({
    name: z.string(),
    date: z.string(),
    participants: z.array(z.string()),
  });

  it("parses output with responses.parse and zodTextFormat", async () => {
    const parsed = await s.openai.responses.parse({
      model: MODEL,
      input: "Alice and Bob are going to a science fair on Friday.",
      text: { format: zodTextFormat(CalendarEvent, "event") },
    });
    expect(parsed.status).toBe("completed");
    expect(CalendarEvent.parse(parsed.output_parsed)).toEqual(parsed.output_parsed);
  });

  it("refuses a strict format the strict rules do not allow", async () => {
    await expect(
      s.openai.responses.create({
        model: MODEL,
        input: "hi",
        text: {
          format: {
            type: "json_schema",
            name: "loose",
            strict: true,
            schema: { type: "object", properties: { a: { type: "string" } } },
          },
        },
      }),
    ).rejects.toMatchObject({ status: 400, param: "text.format.schema" });
  });
});
