/**
 * The Vercel AI SDK (`ai` 7 with `@ai-sdk/openai` 4) against ferry's default mock, through both of
 * the provider's language models: `openai.responses(model)` (Responses API) and
 * `openai.chat(model)` (Chat Completions). Covers a forced tool call (`toolChoice: "required"`),
 * a multi-step tool loop whose final text uses the tool's result, `generateObject` and
 * `generateText` with `Output.object`, and `streamText` with a tool.
 */
import { createOpenAI } from "@ai-sdk/openai";
import {
  generateObject,
  generateText,
  type LanguageModel,
  Output,
  stepCountIs,
  streamObject,
  streamText,
  tool,
} from "ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";
import {
  FORECAST_QUESTION,
  forecastSchema,
  MODEL,
  WEATHER_QUESTION,
  WEATHER_STATION,
  WEATHER_TOOL_DESCRIPTION,
  WEATHER_TOOL_NAME,
  weatherArgs,
  weatherToolOutput,
} from "./weather-fixture.js";

let s: TestServer;
let provider: ReturnType<typeof createOpenAI>;
beforeAll(async () => {
  s = await startTestServer();
  provider = createOpenAI({ baseURL: `${s.url}/v1`, apiKey: "sk-test" });
});
afterAll(async () => {
  await s.close({ removeData: true });
});

/** A tool set with the weather tool; `invocations` records every execution. */
function weatherTools() {
  const invocations: string[] = [];
  const tools = {
    [WEATHER_TOOL_NAME]: tool({
      description: WEATHER_TOOL_DESCRIPTION,
      inputSchema: weatherArgs,
      execute: async ({ city }: { city: string }) => {
        invocations.push(city);
        return weatherToolOutput(city);
      },
    }),
  };
  return { tools, invocations };
}

/** The SDK sends a reasoning effort only for model ids it knows reason (o-series, gpt-5). */
const REASONING_MODEL = "o4-mini";

const models: { api: string; model: () => LanguageModel; reasoningModel: () => LanguageModel }[] = [
  {
    api: "responses",
    model: () => provider.responses(MODEL),
    reasoningModel: () => provider.responses(REASONING_MODEL),
  },
  {
    api: "chat",
    model: () => provider.chat(MODEL),
    reasoningModel: () => provider.chat(REASONING_MODEL),
  },
];

describe.each(models)("AI SDK over the $api model", ({ model, reasoningModel }) => {
  it("generateText with toolChoice required executes the tool", async () => {
    const { tools, invocations } = weatherTools();
    const result = await generateText({
      model: model(),
      prompt: WEATHER_QUESTION,
      tools,
      toolChoice: "required",
      maxRetries: 0,
    });
    expect(invocations).toHaveLength(1);
    expect(result.finishReason).toBe("tool-calls");
    expect(result.toolCalls.map((call) => call.toolName)).toEqual([WEATHER_TOOL_NAME]);
    expect(weatherArgs.safeParse(result.toolCalls[0]?.input).success).toBe(true);
    expect(result.toolResults[0]?.output).toBe(weatherToolOutput(invocations[0] ?? ""));
  });

  it("generateText runs the tool loop: call, result, then text that uses the result", async () => {
    const { tools, invocations } = weatherTools();
    const result = await generateText({
      model: model(),
      prompt: WEATHER_QUESTION,
      tools,
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    expect(invocations).toHaveLength(1);
    expect(result.steps).toHaveLength(2);
    expect(result.finishReason).toBe("stop");
    expect(result.text).toContain(WEATHER_STATION);
  });

  it("continues a conversation with the first turn's response.messages", async () => {
    const first = await generateText({ model: model(), prompt: "Name a colour.", maxRetries: 0 });
    // Over Responses with store on (the provider's default) the SDK sends the earlier assistant
    // text back as an `item_reference` to its stored message id, not as the text itself.
    const second = await generateText({
      model: model(),
      messages: [
        { role: "user", content: "Name a colour." },
        ...first.response.messages,
        { role: "user", content: "And another one?" },
      ],
      maxRetries: 0,
    });
    expect(second.finishReason).toBe("stop");
    expect(second.text.length).toBeGreaterThan(0);
  });

  it("runs the tool loop of a reasoning model (reasoning effort low)", async () => {
    const { tools, invocations } = weatherTools();
    // Over Responses with store on, the SDK sends the first step's reasoning back as an
    // `item_reference` to the stored reasoning item.
    const result = await generateText({
      model: reasoningModel(),
      prompt: WEATHER_QUESTION,
      tools,
      stopWhen: stepCountIs(3),
      providerOptions: { openai: { reasoningEffort: "low" } },
      maxRetries: 0,
    });
    expect(invocations).toHaveLength(1);
    expect(result.text).toContain(WEATHER_STATION);
    expect(result.usage.outputTokenDetails.reasoningTokens ?? 0).toBeGreaterThan(0);
  });

  it("generateObject returns an object matching the zod schema", async () => {
    const result = await generateObject({
      model: model(),
      schema: forecastSchema,
      prompt: FORECAST_QUESTION,
      maxRetries: 0,
    });
    expect(forecastSchema.parse(result.object)).toEqual(result.object);
  });

  it("generateText with Output.object returns an object matching the zod schema", async () => {
    const result = await generateText({
      model: model(),
      output: Output.object({ schema: forecastSchema }),
      prompt: FORECAST_QUESTION,
      maxRetries: 0,
    });
    expect(forecastSchema.parse(result.output)).toEqual(result.output);
  });

  it("streamObject streams partial objects ending in one that matches the schema", async () => {
    const result = streamObject({
      model: model(),
      schema: forecastSchema,
      prompt: FORECAST_QUESTION,
      maxRetries: 0,
    });
    let partials = 0;
    for await (const _partial of result.partialObjectStream) {
      partials++;
    }
    const object = await result.object;
    expect(partials).toBeGreaterThan(0);
    expect(forecastSchema.parse(object)).toEqual(object);
  });

  it("streamText with Output.object ends in an object that matches the schema", async () => {
    const result = streamText({
      model: model(),
      output: Output.object({ schema: forecastSchema }),
      prompt: FORECAST_QUESTION,
      maxRetries: 0,
    });
    await result.consumeStream();
    const output = await result.output;
    expect(forecastSchema.parse(output)).toEqual(output);
  });

  it("streamText with a tool streams the call, its result and the final text", async () => {
    const { tools, invocations } = weatherTools();
    const errors: unknown[] = [];
    const result = streamText({
      model: model(),
      prompt: WEATHER_QUESTION,
      tools,
      stopWhen: stepCountIs(3),
      maxRetries: 0,
      onError: ({ error }) => {
        errors.push(error);
      },
    });
    const partTypes: string[] = [];
    let text = "";
    for await (const part of result.fullStream) {
      partTypes.push(part.type);
      if (part.type === "text-delta") {
        text += part.text;
      }
    }
    expect(errors).toEqual([]);
    expect(invocations).toHaveLength(1);
    expect(partTypes).toContain("tool-input-start");
    expect(partTypes).toContain("tool-call");
    expect(partTypes).toContain("tool-result");
    // The call is streamed before its result, and the answer text comes after both.
    expect(partTypes.indexOf("tool-call")).toBeLessThan(partTypes.indexOf("tool-result"));
    expect(partTypes.lastIndexOf("text-delta")).toBeGreaterThan(partTypes.indexOf("tool-result"));
    expect(text).toContain(WEATHER_STATION);
    expect(await result.text).toContain(WEATHER_STATION);
  });
});

describe("AI SDK over the responses model, store off", () => {
  it("continues a conversation when store is false (the SDK then sends the text, not a reference)", async () => {
    const providerOptions = { openai: { store: false } };
    const first = await generateText({
      model: provider.responses(MODEL),
      prompt: "Name a colour.",
      providerOptions,
      maxRetries: 0,
    });
    const second = await generateText({
      model: provider.responses(MODEL),
      messages: [
        { role: "user", content: "Name a colour." },
        ...first.response.messages,
        { role: "user", content: "And another one?" },
      ],
      providerOptions,
      maxRetries: 0,
    });
    expect(second.text.length).toBeGreaterThan(0);
  });
});

describe("AI SDK over the responses model, reasoning summaries", () => {
  it("shows the reasoning as result.reasoningText when a summary is asked for", async () => {
    // The provider asks for `reasoning: {effort, summary: "detailed"}` and reads only the
    // reasoning item's `summary` parts.
    const result = await generateText({
      model: provider.responses(REASONING_MODEL),
      prompt: "Think first, then answer.",
      providerOptions: { openai: { reasoningEffort: "low", reasoningSummary: "detailed" } },
      maxRetries: 0,
    });
    expect(result.reasoningText ?? "").not.toBe("");
  });
});
