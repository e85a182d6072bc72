/**
 * The official `openai` SDK, 6.x and 7.x side by side, against ferry's default mock over a real
 * socket: structured outputs through the SDK's zod helpers, function calling on both APIs (sync,
 * streamed through the SDK's stream helpers, chained by input array and by
 * `previous_response_id`, in the background) and `runTools`. The helpers are the strict part:
 * `responses.stream()` throws on events out of order or for items it never saw added, and
 * `finalChatCompletion()` throws when indexed tool-call chunks do not reassemble.
 */
import OpenAI6, { toFile } from "openai";
import * as zodHelpers6 from "openai/helpers/zod";
import OpenAI7 from "openai7";
import { ResponsesToolRunner } from "openai7/helpers/responses-tool-runner";
import * as zodHelpers7 from "openai7/helpers/zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectMatchesComponent, validateAgainstComponent } from "../helpers/openapi-schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import {
  FORECAST_QUESTION,
  forecastSchema,
  MODEL,
  TIME_TOOL_DESCRIPTION,
  TIME_TOOL_NAME,
  TIME_ZONE_TOKEN,
  timeToolOutput,
  WEATHER_AND_TIME_QUESTION,
  WEATHER_QUESTION,
  WEATHER_STATION,
  WEATHER_TOOL_DESCRIPTION,
  WEATHER_TOOL_NAME,
  weatherArgs,
  weatherParametersJsonSchema,
  weatherToolOutput,
} from "./weather-fixture.js";

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
  // Compiling the spec's validators takes seconds (15 s on a loaded 2-core box); pay it here,
  // once, so no single test's timeout includes it.
  for (const component of [
    "Response",
    "ResponseStreamEvent",
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
  ]) {
    validateAgainstComponent(component, {});
  }
}, 180_000);
afterAll(async () => {
  await s.close({ removeData: true });
});

/*
 * Both majors expose the same surface for everything used here; 7.x's typings are a superset.
 * The 7.x client is typed as 6.x so one test body serves both, while each call really runs
 * through its own package's code (request building, stream accumulators, parsers).
 */
const sdks = [
  {
    sdk: "openai 6.x",
    client: (baseURL: string) => new OpenAI6({ baseURL, apiKey: "sk-test", maxRetries: 0 }),
    zod: zodHelpers6,
  },
  {
    sdk: "openai 7.x",
    client: (baseURL: string) =>
      new OpenAI7({ baseURL, apiKey: "sk-test", maxRetries: 0 }) as unknown as OpenAI6,
    zod: zodHelpers7 as unknown as typeof zodHelpers6,
  },
];

const responsesWeatherTool = {
  type: "function" as const,
  name: WEATHER_TOOL_NAME,
  description: WEATHER_TOOL_DESCRIPTION,
  parameters: weatherParametersJsonSchema,
  strict: true,
};
const chatWeatherTool = {
  type: "function" as const,
  function: {
    name: WEATHER_TOOL_NAME,
    description: WEATHER_TOOL_DESCRIPTION,
    parameters: weatherParametersJsonSchema,
    strict: true,
  },
};

const responsesTimeTool = {
  ...responsesWeatherTool,
  name: TIME_TOOL_NAME,
  description: TIME_TOOL_DESCRIPTION,
};
const chatTimeTool = {
  type: "function" as const,
  function: {
    ...chatWeatherTool.function,
    name: TIME_TOOL_NAME,
    description: TIME_TOOL_DESCRIPTION,
  },
};

type ResponseOutputItem = OpenAI6.Responses.ResponseOutputItem;
type FunctionCall = OpenAI6.Responses.ResponseFunctionToolCall;

/** The response's single function call, checked against the documented item shape. */
function onlyFunctionCall(output: ResponseOutputItem[]): FunctionCall {
  const calls = output.filter((item): item is FunctionCall => item.type === "function_call");
  expect(calls, `output: ${JSON.stringify(output)}`).toHaveLength(1);
  // The mock writes no message when it only calls tools (as OpenAI does).
  expect(output.filter((item) => item.type === "message")).toEqual([]);
  const call = calls[0] as FunctionCall;
  expect(call.id).toMatch(/^fc_/);
  expect(call.call_id).toMatch(/^call_/);
  expect(call.name).toBe(WEATHER_TOOL_NAME);
  expect(call.status).toBe("completed");
  expect(weatherArgs.safeParse(JSON.parse(call.arguments)).success).toBe(true);
  return call;
}

function cityOf(call: { arguments: string }): string {
  return weatherArgs.parse(JSON.parse(call.arguments)).city;
}

async function pollUntilSettled(openai: OpenAI6, id: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await openai.responses.retrieve(id);
    const settled = response.status !== "queued" && response.status !== "in_progress";
    if (settled || Date.now() > deadline) {
      return response;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A 1×1 PNG: a real image whose size the mock reads from its bytes. */
const PIXEL_PNG_DATA_URL =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
/** What OpenAI charges for one image at `detail: "low"`, whatever its size. */
const LOW_DETAIL_IMAGE_TOKENS = 85;

describe.each(sdks)("$sdk", ({ client, zod }) => {
  let openai: OpenAI6;
  beforeAll(() => {
    openai = client(`${s.url}/v1`);
  });

  describe("structured outputs", () => {
    it("responses.parse with zodTextFormat gives output_parsed matching the zod schema", async () => {
      const response = await openai.responses.parse({
        model: MODEL,
        input: FORECAST_QUESTION,
        text: { format: zod.zodTextFormat(forecastSchema, "forecast") },
      });
      expect(response.status).toBe("completed");
      expect(response.output_parsed).not.toBeNull();
      expect(forecastSchema.parse(response.output_parsed)).toEqual(response.output_parsed);
      // The stored response reports the format it was asked for.
      expect(response.text?.format?.type).toBe("json_schema");
      expectMatchesComponent("Response", response);
    });

    it("chat.completions.parse with zodResponseFormat gives message.parsed matching the schema", async () => {
      const completion = await openai.chat.completions.parse({
        model: MODEL,
        messages: [{ role: "user", content: FORECAST_QUESTION }],
        response_format: zod.zodResponseFormat(forecastSchema, "forecast"),
      });
      const message = completion.choices[0]?.message;
      expect(completion.choices[0]?.finish_reason).toBe("stop");
      expect(message?.refusal ?? null).toBeNull();
      expect(message?.parsed).not.toBeNull();
      expect(forecastSchema.parse(message?.parsed)).toEqual(message?.parsed);
    });
  });

  describe("structured outputs, streamed and refused", () => {
    it("responses.stream with zodTextFormat: finalResponse().output_parsed matches the schema", async () => {
      const stream = openai.responses.stream({
        model: MODEL,
        input: FORECAST_QUESTION,
        text: { format: zod.zodTextFormat(forecastSchema, "forecast") },
      });
      let text = "";
      for await (const event of stream) {
        if (event.type === "response.output_text.delta") {
          text += event.delta;
        }
      }
      const final = await stream.finalResponse();
      expect(forecastSchema.parse(final.output_parsed)).toEqual(JSON.parse(text));
    });

    it("chat.completions.stream with zodResponseFormat: the final message is parsed", async () => {
      const stream = openai.chat.completions.stream({
        model: MODEL,
        messages: [{ role: "user", content: FORECAST_QUESTION }],
        response_format: zod.zodResponseFormat(forecastSchema, "forecast"),
      });
      const final = await stream.finalChatCompletion();
      const message = final.choices[0]?.message;
      expect(forecastSchema.parse(message?.parsed)).toEqual(JSON.parse(message?.content ?? ""));
    });

    it("a refusal (metadata.mock_refusal) reaches parse() as a refusal, not as unparseable text", async () => {
      const refusal = "I can't forecast that.";
      const response = await openai.responses.parse({
        model: MODEL,
        input: FORECAST_QUESTION,
        text: { format: zod.zodTextFormat(forecastSchema, "forecast") },
        metadata: { mock_refusal: refusal },
      });
      expectMatchesComponent("Response", response);
      expect(response.output_parsed).toBeNull();
      const message = response.output.find((item) => item.type === "message");
      expect(message?.type === "message" ? message.content : []).toEqual([
        { type: "refusal", refusal },
      ]);

      const completion = await openai.chat.completions.parse({
        model: MODEL,
        messages: [{ role: "user", content: FORECAST_QUESTION }],
        response_format: zod.zodResponseFormat(forecastSchema, "forecast"),
        metadata: { mock_refusal: refusal },
        store: true,
      });
      expect(completion.choices[0]?.message.refusal).toBe(refusal);
      expect(completion.choices[0]?.message.parsed).toBeNull();
    });
  });

  describe("responses function calling", () => {
    it("round trip with the full input array: call → function_call_output → text using it", async () => {
      const input: OpenAI6.Responses.ResponseInputItem[] = [
        { role: "user", content: WEATHER_QUESTION },
      ];
      const first = await openai.responses.create({
        model: MODEL,
        input,
        tools: [responsesWeatherTool],
      });
      expectMatchesComponent("Response", first);
      const call = onlyFunctionCall(first.output);

      const second = await openai.responses.create({
        model: MODEL,
        input: [
          ...input,
          // OpenAI's documented pattern: the output items go back as input, unchanged. (The
          // SDK's output union is wider than its input union only for item types not used here.)
          ...(first.output as OpenAI6.Responses.ResponseInputItem[]),
          {
            type: "function_call_output",
            call_id: call.call_id,
            output: weatherToolOutput(cityOf(call)),
          },
        ],
        tools: [responsesWeatherTool],
      });
      expect(second.status).toBe("completed");
      expect(second.output.filter((item) => item.type === "function_call")).toEqual([]);
      expect(second.output_text).toContain(WEATHER_STATION);
      expectMatchesComponent("Response", second);
    });

    it("round trip with previous_response_id, sending only the function_call_output", async () => {
      const first = await openai.responses.create({
        model: MODEL,
        input: WEATHER_QUESTION,
        tools: [responsesWeatherTool],
      });
      const call = onlyFunctionCall(first.output);

      const second = await openai.responses.create({
        model: MODEL,
        previous_response_id: first.id,
        input: [
          {
            type: "function_call_output",
            call_id: call.call_id,
            output: weatherToolOutput(cityOf(call)),
          },
        ],
        tools: [responsesWeatherTool],
      });
      expect(second.status).toBe("completed");
      expect(second.previous_response_id).toBe(first.id);
      expect(second.output_text).toContain(WEATHER_STATION);

      // The stored input of the second response is the output item it was given.
      const items = await openai.responses.inputItems.list(second.id);
      expect(items.data.map((item) => item.type)).toContain("function_call_output");
    });

    it("responses.parse with zodResponsesFunction fills parsed_arguments", async () => {
      const response = await openai.responses.parse({
        model: MODEL,
        input: WEATHER_QUESTION,
        tools: [
          zod.zodResponsesFunction({
            name: WEATHER_TOOL_NAME,
            description: WEATHER_TOOL_DESCRIPTION,
            parameters: weatherArgs,
          }),
        ],
      });
      const call = response.output.find((item) => item.type === "function_call");
      expect(call?.type).toBe("function_call");
      if (call?.type === "function_call") {
        expect(weatherArgs.parse(call.parsed_arguments)).toEqual(JSON.parse(call.arguments));
      }
    });

    it("streams the call through responses.stream() in the documented event order", async () => {
      const stream = openai.responses.stream({
        model: MODEL,
        input: WEATHER_QUESTION,
        tools: [responsesWeatherTool],
      });
      const types: string[] = [];
      let argumentsFromDeltas = "";
      let addedItem: ResponseOutputItem | undefined;
      let argumentsDone = "";
      for await (const event of stream) {
        expectMatchesComponent("ResponseStreamEvent", event);
        types.push(event.type);
        if (event.type === "response.output_item.added") {
          addedItem = event.item;
        } else if (event.type === "response.function_call_arguments.delta") {
          expect(event.output_index).toBe(0);
          argumentsFromDeltas += event.delta;
        } else if (event.type === "response.function_call_arguments.done") {
          argumentsDone = event.arguments;
        }
      }
      const final = await stream.finalResponse();

      const deltas = types.filter((type) => type === "response.function_call_arguments.delta");
      expect(deltas.length).toBeGreaterThan(0);
      expect(types).toEqual([
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        ...deltas,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
      ]);
      expect(addedItem?.type).toBe("function_call");
      if (addedItem?.type === "function_call") {
        expect(addedItem.name).toBe(WEATHER_TOOL_NAME);
        expect(addedItem.call_id).toMatch(/^call_/);
      }
      expect(argumentsDone).toBe(argumentsFromDeltas);
      const call = onlyFunctionCall(final.output);
      expect(call.arguments).toBe(argumentsFromDeltas);
      // The stored response is the one that was streamed.
      const stored = await openai.responses.retrieve(final.id);
      expect(onlyFunctionCall(stored.output).call_id).toBe(call.call_id);
    });

    it("makes one call per matching tool, in tools order, and answers both outputs", async () => {
      const first = await openai.responses.create({
        model: MODEL,
        input: WEATHER_AND_TIME_QUESTION,
        tools: [responsesWeatherTool, responsesTimeTool],
      });
      const calls = first.output.filter(
        (item): item is FunctionCall => item.type === "function_call",
      );
      expect(
        calls.map((call) => call.name),
        JSON.stringify(first.output),
      ).toEqual([WEATHER_TOOL_NAME, TIME_TOOL_NAME]);
      expect(new Set(calls.map((call) => call.call_id)).size).toBe(2);
      const outputs = calls.map((call) => ({
        type: "function_call_output" as const,
        call_id: call.call_id,
        output:
          call.name === WEATHER_TOOL_NAME
            ? weatherToolOutput(cityOf(call))
            : timeToolOutput(cityOf(call)),
      }));
      const second = await openai.responses.create({
        model: MODEL,
        previous_response_id: first.id,
        input: outputs,
        tools: [responsesWeatherTool, responsesTimeTool],
      });
      expect(second.output_text).toContain(WEATHER_STATION);
      expect(second.output_text).toContain(TIME_ZONE_TOKEN);
    });

    it("tool_choice required and a named function force a call the message does not ask for", async () => {
      const required = await openai.responses.create({
        model: MODEL,
        input: "Hello there!",
        tools: [responsesWeatherTool, responsesTimeTool],
        tool_choice: "required",
      });
      expect(required.output.map((item) => item.type)).toContain("function_call");

      const named = await openai.responses.create({
        model: MODEL,
        input: WEATHER_QUESTION,
        tools: [responsesWeatherTool, responsesTimeTool],
        tool_choice: { type: "function", name: TIME_TOOL_NAME },
      });
      const calls = named.output.filter((item) => item.type === "function_call");
      expect(calls.map((call) => call.name)).toEqual([TIME_TOOL_NAME]);

      const none = await openai.responses.create({
        model: MODEL,
        input: WEATHER_QUESTION,
        tools: [responsesWeatherTool],
        tool_choice: "none",
      });
      expect(none.output.map((item) => item.type)).toEqual(["message"]);
      expect(none.output_text.length).toBeGreaterThan(0);
    });

    it("makes a single call when parallel_tool_calls is false", async () => {
      const response = await openai.responses.create({
        model: MODEL,
        input: WEATHER_AND_TIME_QUESTION,
        tools: [responsesWeatherTool, responsesTimeTool],
        parallel_tool_calls: false,
      });
      expect(response.parallel_tool_calls).toBe(false);
      expect(response.output.filter((item) => item.type === "function_call")).toHaveLength(1);
    });

    it("streams parallel calls one item after the other, each with its own output_index", async () => {
      const stream = openai.responses.stream({
        model: MODEL,
        input: WEATHER_AND_TIME_QUESTION,
        tools: [responsesWeatherTool, responsesTimeTool],
      });
      // Per-item event types, keyed by output_index, and the order items opened and closed.
      const sequence: string[] = [];
      for await (const event of stream) {
        if (event.type === "response.output_item.added") {
          sequence.push(`added:${event.output_index}:${event.item.type}`);
        } else if (event.type === "response.function_call_arguments.done") {
          sequence.push(`arguments.done:${event.output_index}`);
        } else if (event.type === "response.output_item.done") {
          sequence.push(`done:${event.output_index}`);
        } else if (event.type === "response.completed") {
          sequence.push("completed");
        }
      }
      expect(sequence).toEqual([
        "added:0:function_call",
        "arguments.done:0",
        "done:0",
        "added:1:function_call",
        "arguments.done:1",
        "done:1",
        "completed",
      ]);
      const final = await stream.finalResponse();
      expect(
        final.output.map((item) => (item.type === "function_call" ? item.name : item.type)),
      ).toEqual([WEATHER_TOOL_NAME, TIME_TOOL_NAME]);
    });

    it("runs a background response with tools to completion, then continues it", async () => {
      const created = await openai.responses.create({
        model: MODEL,
        input: WEATHER_QUESTION,
        tools: [responsesWeatherTool],
        background: true,
      });
      expect(["queued", "in_progress"]).toContain(created.status);
      const done = await pollUntilSettled(openai, created.id);
      expect(done.status).toBe("completed");
      const call = onlyFunctionCall(done.output);

      const next = await openai.responses.create({
        model: MODEL,
        previous_response_id: done.id,
        input: [
          {
            type: "function_call_output",
            call_id: call.call_id,
            output: weatherToolOutput(cityOf(call)),
          },
        ],
        tools: [responsesWeatherTool],
        background: true,
      });
      const answered = await pollUntilSettled(openai, next.id);
      expect(answered.status).toBe("completed");
      expect(answered.output_text).toContain(WEATHER_STATION);
    });
  });

  describe("images, logprobs and reasoning", () => {
    it("counts an input_image at low detail as 85 tokens and acknowledges it", async () => {
      const text = "Describe this picture.";
      const plain = await openai.responses.create({
        model: MODEL,
        input: [{ role: "user", content: [{ type: "input_text", text }] }],
      });
      const withImage = await openai.responses.create({
        model: MODEL,
        input: [
          {
            role: "user",
            content: [
              { type: "input_text", text },
              { type: "input_image", image_url: PIXEL_PNG_DATA_URL, detail: "low" },
            ],
          },
        ],
      });
      expect((withImage.usage?.input_tokens ?? 0) - (plain.usage?.input_tokens ?? 0)).toBe(
        LOW_DETAIL_IMAGE_TOKENS,
      );
      expect(withImage.output_text).toMatch(/^I see an image/);

      const chatPlain = await openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: [{ type: "text", text }] }],
      });
      const chatWithImage = await openai.chat.completions.create({
        model: MODEL,
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text },
              { type: "image_url", image_url: { url: PIXEL_PNG_DATA_URL, detail: "low" } },
            ],
          },
        ],
      });
      expect(
        (chatWithImage.usage?.prompt_tokens ?? 0) - (chatPlain.usage?.prompt_tokens ?? 0),
      ).toBe(LOW_DETAIL_IMAGE_TOKENS);
      expect(chatWithImage.choices[0]?.message.content).toMatch(/^I see an image/);
    });

    it("returns output_text logprobs whose tokens spell the text, sync and streamed", async () => {
      const request = {
        model: MODEL,
        input: "Say something short.",
        include: ["message.output_text.logprobs" as const],
        top_logprobs: 2,
      };
      const response = await openai.responses.create(request);
      const message = response.output.find((item) => item.type === "message");
      const part = message?.type === "message" ? message.content[0] : undefined;
      if (part?.type !== "output_text") {
        throw new Error(`expected an output_text part, got ${JSON.stringify(message)}`);
      }
      expectMatchesComponent("Response", response);
      const logprobs = part.logprobs ?? [];
      expect(logprobs.length).toBeGreaterThan(0);
      expect(logprobs.map((entry) => entry.token).join("")).toBe(part.text);
      for (const entry of logprobs) {
        expect(entry.logprob).toBeLessThanOrEqual(0);
        expect(entry.top_logprobs).toHaveLength(2);
        expect(entry.top_logprobs[0]?.token).toBe(entry.token);
      }

      const stream = openai.responses.stream(request);
      let streamedTokens = 0;
      for await (const event of stream) {
        expectMatchesComponent("ResponseStreamEvent", event);
        if (event.type === "response.output_text.delta") {
          streamedTokens += event.logprobs.length;
        }
      }
      const final = await stream.finalResponse();
      expect(streamedTokens).toBe(logprobs.length);
      expect(final.output_text).toBe(part.text);
    });

    it("returns chat logprobs, sync and reassembled from a stream", async () => {
      const request = {
        model: MODEL,
        messages: [{ role: "user" as const, content: "Say something short." }],
        logprobs: true,
        top_logprobs: 2,
      };
      const completion = await openai.chat.completions.create(request);
      expectMatchesComponent("CreateChatCompletionResponse", completion);
      const content = completion.choices[0]?.logprobs?.content ?? [];
      expect(content.length).toBeGreaterThan(0);
      expect(content.map((entry) => entry.token).join("")).toBe(
        completion.choices[0]?.message.content,
      );
      expect(content[0]?.top_logprobs).toHaveLength(2);

      const final = await openai.chat.completions.stream(request).finalChatCompletion();
      const streamed = final.choices[0]?.logprobs?.content ?? [];
      expect(streamed.map((entry) => entry.token).join("")).toBe(final.choices[0]?.message.content);
    });

    it("puts a reasoning item first and counts reasoning tokens; the item goes back as input", async () => {
      const first = await openai.responses.create({
        model: MODEL,
        input: WEATHER_QUESTION,
        tools: [responsesWeatherTool],
        reasoning: { effort: "low" },
      });
      expectMatchesComponent("Response", first);
      expect(first.output[0]?.type).toBe("reasoning");
      expect(first.usage?.output_tokens_details?.reasoning_tokens ?? 0).toBeGreaterThan(0);
      const call = onlyFunctionCall(first.output);

      // As the Agents SDK and the AI SDK do: the reasoning item rides along in the next input.
      const second = await openai.responses.create({
        model: MODEL,
        input: [
          { role: "user", content: WEATHER_QUESTION },
          ...(first.output as OpenAI6.Responses.ResponseInputItem[]),
          {
            type: "function_call_output",
            call_id: call.call_id,
            output: weatherToolOutput(cityOf(call)),
          },
        ],
        tools: [responsesWeatherTool],
        reasoning: { effort: "low" },
      });
      expect(second.output_text).toContain(WEATHER_STATION);

      // Streamed, the SDK's helper accumulates the reasoning item without complaint.
      const reasoningStream = openai.responses.stream({
        model: MODEL,
        input: "Think first, then answer.",
        reasoning: { effort: "low" },
      });
      for await (const event of reasoningStream) {
        expectMatchesComponent("ResponseStreamEvent", event);
      }
      const final = await reasoningStream.finalResponse();
      expect(final.output.map((item) => item.type)).toEqual(["reasoning", "message"]);

      const chat = await openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "Think first, then answer." }],
        reasoning_effort: "low",
      });
      expect(chat.usage?.completion_tokens_details?.reasoning_tokens ?? 0).toBeGreaterThan(0);
    });
  });

  describe("batches with tools and schemas", () => {
    it("answers batch lines exactly as the same synchronous calls (the mock is deterministic)", async () => {
      const bodies = {
        "/v1/responses": { model: MODEL, input: WEATHER_QUESTION, tools: [responsesWeatherTool] },
        "/v1/chat/completions": {
          model: MODEL,
          messages: [{ role: "user" as const, content: FORECAST_QUESTION }],
          response_format: zod.zodResponseFormat(forecastSchema, "forecast"),
        },
      };
      const responseLine = {
        custom_id: "tools",
        method: "POST",
        url: "/v1/responses",
        body: bodies["/v1/responses"],
      };
      const chatLine = {
        custom_id: "schema",
        method: "POST",
        url: "/v1/chat/completions",
        body: bodies["/v1/chat/completions"],
      };
      const results = new Map<string, { body: unknown }>();
      for (const line of [responseLine, chatLine]) {
        const file = await openai.files.create({
          file: await toFile(Buffer.from(JSON.stringify(line)), `${line.custom_id}.jsonl`),
          purpose: "batch",
        });
        const batch = await openai.batches.create({
          input_file_id: file.id,
          endpoint: line.url as "/v1/responses" | "/v1/chat/completions",
          completion_window: "24h",
        });
        const deadline = Date.now() + 20_000;
        let done = await openai.batches.retrieve(batch.id);
        while (
          !["completed", "failed", "expired", "cancelled"].includes(done.status) &&
          Date.now() < deadline
        ) {
          await new Promise((resolve) => setTimeout(resolve, 25));
          done = await openai.batches.retrieve(batch.id);
        }
        expect(done.status, JSON.stringify(done)).toBe("completed");
        expect(done.request_counts?.failed).toBe(0);
        const output = await (await openai.files.content(done.output_file_id ?? "")).text();
        const result = JSON.parse(output.trim()) as {
          response: { status_code: number; body: unknown };
        };
        expect(result.response.status_code).toBe(200);
        results.set(line.custom_id, result.response);
      }

      const fromBatch = results.get("tools")?.body as OpenAI6.Responses.Response;
      const sync = await openai.responses.create(bodies["/v1/responses"]);
      const batchCall = onlyFunctionCall(fromBatch.output);
      const syncCall = onlyFunctionCall(sync.output);
      expect({ call_id: batchCall.call_id, arguments: batchCall.arguments }).toEqual({
        call_id: syncCall.call_id,
        arguments: syncCall.arguments,
      });

      const chatFromBatch = results.get("schema")?.body as OpenAI6.Chat.ChatCompletion;
      const chatSync = await openai.chat.completions.create(bodies["/v1/chat/completions"]);
      const content = chatFromBatch.choices[0]?.message.content ?? "";
      expect(forecastSchema.parse(JSON.parse(content))).toEqual(JSON.parse(content));
      expect(content).toBe(chatSync.choices[0]?.message.content);
    });
  });

  describe("background streams with tools", () => {
    it("streams a background call live, then replays it through responses.stream({response_id})", async () => {
      const live = await openai.responses.create({
        model: MODEL,
        input: WEATHER_QUESTION,
        tools: [responsesWeatherTool],
        background: true,
        stream: true,
      });
      let id = "";
      const liveTypes: string[] = [];
      const liveSequence: number[] = [];
      for await (const event of live) {
        liveTypes.push(event.type);
        liveSequence.push(event.sequence_number);
        if (event.type === "response.created") {
          id = event.response.id;
        }
      }
      expect(liveTypes).toContain("response.function_call_arguments.delta");
      expect(liveTypes.at(-1)).toBe("response.completed");

      // The helper rebuilds the response from the full replay, then filters by sequence number.
      const replay = openai.responses.stream({ response_id: id, starting_after: 2 });
      const replayedSequence: number[] = [];
      for await (const event of replay) {
        replayedSequence.push(event.sequence_number);
      }
      expect(replayedSequence).toEqual(liveSequence.filter((sequence) => sequence > 2));
      const final = await replay.finalResponse();
      expect(final.status).toBe("completed");
      onlyFunctionCall(final.output);
    });
  });

  describe("chat tool calls", () => {
    it("returns tool_calls with finish_reason tool_calls, and answers the tool message", async () => {
      const messages: OpenAI6.Chat.ChatCompletionMessageParam[] = [
        { role: "user", content: WEATHER_QUESTION },
      ];
      const completion = await openai.chat.completions.create({
        model: MODEL,
        messages,
        tools: [chatWeatherTool],
      });
      expectMatchesComponent("CreateChatCompletionResponse", completion);
      const choice = completion.choices[0];
      expect(choice?.finish_reason, JSON.stringify(choice)).toBe("tool_calls");
      const toolCalls = choice?.message.tool_calls ?? [];
      expect(toolCalls).toHaveLength(1);
      const toolCall = toolCalls[0];
      if (toolCall?.type !== "function") {
        throw new Error(`expected a function tool call, got ${JSON.stringify(toolCall)}`);
      }
      expect(toolCall.id).toMatch(/^call_/);
      expect(toolCall.function.name).toBe(WEATHER_TOOL_NAME);
      const city = cityOf(toolCall.function);

      // The assistant message goes back exactly as received (content null, tool_calls set).
      const answer = await openai.chat.completions.create({
        model: MODEL,
        messages: [
          ...messages,
          choice?.message as OpenAI6.Chat.ChatCompletionMessageParam,
          { role: "tool", tool_call_id: toolCall.id, content: weatherToolOutput(city) },
        ],
        tools: [chatWeatherTool],
      });
      expect(answer.choices[0]?.finish_reason).toBe("stop");
      expect(answer.choices[0]?.message.tool_calls ?? []).toEqual([]);
      expect(answer.choices[0]?.message.content).toContain(WEATHER_STATION);
    });

    it("streams tool_calls as indexed chunks that finalChatCompletion() reassembles", async () => {
      const stream = openai.chat.completions.stream({
        model: MODEL,
        messages: [{ role: "user", content: WEATHER_QUESTION }],
        tools: [chatWeatherTool],
        stream_options: { include_usage: true },
      });
      let toolCallChunks = 0;
      let argumentsFromChunks = "";
      for await (const chunk of stream) {
        expectMatchesComponent("CreateChatCompletionStreamResponse", chunk);
        for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
          toolCallChunks++;
          expect(delta.index).toBe(0);
          argumentsFromChunks += delta.function?.arguments ?? "";
        }
      }
      const final = await stream.finalChatCompletion();
      expect(toolCallChunks).toBeGreaterThan(0);
      const choice = final.choices[0];
      expect(choice?.finish_reason).toBe("tool_calls");
      const toolCall = choice?.message.tool_calls?.[0];
      expect(choice?.message.tool_calls).toHaveLength(1);
      expect(toolCall?.id).toMatch(/^call_/);
      expect(toolCall?.function.name).toBe(WEATHER_TOOL_NAME);
      expect(toolCall?.function.arguments).toBe(argumentsFromChunks);
      expect(weatherArgs.safeParse(JSON.parse(argumentsFromChunks)).success).toBe(true);
      expect(final.usage?.total_tokens).toBeGreaterThan(0);
    });

    it("streams parallel tool calls under indexes 0 and 1, reassembled in order", async () => {
      const stream = openai.chat.completions.stream({
        model: MODEL,
        messages: [{ role: "user", content: WEATHER_AND_TIME_QUESTION }],
        tools: [chatWeatherTool, chatTimeTool],
      });
      const indexes = new Set<number>();
      for await (const chunk of stream) {
        for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
          indexes.add(delta.index);
        }
      }
      const final = await stream.finalChatCompletion();
      expect([...indexes]).toEqual([0, 1]);
      const toolCalls = final.choices[0]?.message.tool_calls ?? [];
      expect(toolCalls.map((call) => call.function.name)).toEqual([
        WEATHER_TOOL_NAME,
        TIME_TOOL_NAME,
      ]);
      for (const call of toolCalls) {
        expect(weatherArgs.safeParse(JSON.parse(call.function.arguments)).success).toBe(true);
      }
    });

    it("tool_choice required and a named function force the call on Chat too", async () => {
      const required = await openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "Hello there!" }],
        tools: [chatWeatherTool],
        tool_choice: "required",
      });
      expect(required.choices[0]?.finish_reason).toBe("tool_calls");

      const named = await openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: WEATHER_QUESTION }],
        tools: [chatWeatherTool, chatTimeTool],
        tool_choice: { type: "function", function: { name: TIME_TOOL_NAME } },
      });
      const names = (named.choices[0]?.message.tool_calls ?? []).map((call) =>
        call.type === "function" ? call.function.name : call.type,
      );
      expect(names).toEqual([TIME_TOOL_NAME]);
    });

    it("streams n=2 choices, each with its own reassembled tool call", async () => {
      const final = await openai.chat.completions
        .stream({
          model: MODEL,
          messages: [{ role: "user", content: WEATHER_QUESTION }],
          tools: [chatWeatherTool],
          n: 2,
        })
        .finalChatCompletion();
      expect(final.choices.map((choice) => choice.index)).toEqual([0, 1]);
      for (const choice of final.choices) {
        expect(choice.finish_reason).toBe("tool_calls");
        expect(choice.message.tool_calls?.map((call) => call.function.name)).toEqual([
          WEATHER_TOOL_NAME,
        ]);
        expect(
          weatherArgs.safeParse(
            JSON.parse(choice.message.tool_calls?.[0]?.function.arguments ?? ""),
          ).success,
        ).toBe(true);
      }
    });

    it("runTools runs two parallel tools and answers with both outputs", async () => {
      const invoked: string[] = [];
      const runner = openai.chat.completions.runTools({
        model: MODEL,
        messages: [{ role: "user", content: WEATHER_AND_TIME_QUESTION }],
        tools: [
          zod.zodFunction({
            name: WEATHER_TOOL_NAME,
            description: WEATHER_TOOL_DESCRIPTION,
            parameters: weatherArgs,
            function: ({ city }: { city: string }) => {
              invoked.push(WEATHER_TOOL_NAME);
              return weatherToolOutput(city);
            },
          }),
          zod.zodFunction({
            name: TIME_TOOL_NAME,
            description: TIME_TOOL_DESCRIPTION,
            parameters: weatherArgs,
            function: ({ city }: { city: string }) => {
              invoked.push(TIME_TOOL_NAME);
              return timeToolOutput(city);
            },
          }),
        ],
      });
      const content = await runner.finalContent();
      expect(invoked).toEqual([WEATHER_TOOL_NAME, TIME_TOOL_NAME]);
      expect(content).toContain(WEATHER_STATION);
      expect(content).toContain(TIME_ZONE_TOKEN);
    });

    it("chat.completions.runTools really invokes a zodFunction tool and answers with its output", async () => {
      const invocations: string[] = [];
      const runner = openai.chat.completions.runTools({
        model: MODEL,
        messages: [{ role: "user", content: WEATHER_QUESTION }],
        tools: [
          zod.zodFunction({
            name: WEATHER_TOOL_NAME,
            description: WEATHER_TOOL_DESCRIPTION,
            parameters: weatherArgs,
            function: ({ city }: { city: string }) => {
              invocations.push(city);
              return weatherToolOutput(city);
            },
          }),
        ],
      });
      const content = await runner.finalContent();
      expect(invocations).toHaveLength(1);
      expect(content).toContain(WEATHER_STATION);
      // user, assistant (tool_calls), tool, assistant (answer)
      expect(runner.messages.map((message) => message.role)).toEqual([
        "user",
        "assistant",
        "tool",
        "assistant",
      ]);
    });
  });
});

/*
 * 7.x only: the Responses tool runner. It validates every output item before running a tool
 * (ids, call ids, duplicates) and, when streamed, that the completed response equals the items
 * the stream delivered, so it is the strictest reader of ferry's function-call shapes.
 */
describe("openai 7.x ResponsesToolRunner", () => {
  function weatherRunner() {
    const invocations: string[] = [];
    const runner = new ResponsesToolRunner({
      functions: [
        {
          tool: responsesWeatherTool,
          execute: (args) => {
            const { city } = weatherArgs.parse(args);
            invocations.push(city);
            return weatherToolOutput(city);
          },
        },
      ],
    });
    return { runner, invocations };
  }
  const client = () => new OpenAI7({ baseURL: `${s.url}/v1`, apiKey: "sk-test", maxRetries: 0 });

  it.each([{ stream: false }, { stream: true }])(
    "runs the tool and returns the final response (stream: $stream)",
    async ({ stream }) => {
      const { runner, invocations } = weatherRunner();
      const final = await runner.run(
        client(),
        { model: MODEL, input: WEATHER_QUESTION },
        { stream },
      );
      expect(invocations).toHaveLength(1);
      expect(final.status).toBe("completed");
      expect(final.output_text).toContain(WEATHER_STATION);
    },
  );
});
