/**
 * `@langchain/openai` (on openai 7.x) against ferry's default mock, once over Chat Completions
 * (the default) and once with `useResponsesApi: true`: `bindTools` gives `tool_calls` on the
 * AIMessage (sync and streamed, where LangChain merges the tool-call chunks), a ToolMessage round
 * trip answers with the tool's result, and `withStructuredOutput(zod)` returns the parsed object
 * both by JSON Schema (`response_format` / `text.format`) and by forced function calling.
 */
import {
  AIMessage,
  type AIMessageChunk,
  HumanMessage,
  ToolMessage,
} from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { concat } from "@langchain/core/utils/stream";
import { ChatOpenAI } from "@langchain/openai";
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
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close({ removeData: true });
});

const getWeather = tool(async ({ city }: { city: string }) => weatherToolOutput(city), {
  name: WEATHER_TOOL_NAME,
  description: WEATHER_TOOL_DESCRIPTION,
  schema: weatherArgs,
});

const apis = [
  { api: "chat completions", useResponsesApi: false },
  { api: "responses", useResponsesApi: true },
];

describe.each(apis)("ChatOpenAI over $api", ({ useResponsesApi }) => {
  const model = () =>
    new ChatOpenAI({
      model: MODEL,
      apiKey: "sk-test",
      configuration: { baseURL: `${s.url}/v1` },
      maxRetries: 0,
      useResponsesApi,
    });

  it("bindTools: the AIMessage carries the tool call", async () => {
    const message = await model().bindTools([getWeather]).invoke(WEATHER_QUESTION);
    expect(message.tool_calls, JSON.stringify(message)).toHaveLength(1);
    const call = message.tool_calls?.[0];
    expect(call?.name).toBe(WEATHER_TOOL_NAME);
    expect(call?.id).toMatch(/^call_/);
    expect(weatherArgs.safeParse(call?.args).success).toBe(true);
  });

  it("bindTools streamed: the merged chunks carry the same tool call", async () => {
    let merged: AIMessageChunk | undefined;
    for await (const chunk of await model().bindTools([getWeather]).stream(WEATHER_QUESTION)) {
      merged = merged === undefined ? chunk : concat(merged, chunk);
    }
    expect(merged?.tool_calls, JSON.stringify(merged)).toHaveLength(1);
    const call = merged?.tool_calls?.[0];
    expect(call?.name).toBe(WEATHER_TOOL_NAME);
    expect(weatherArgs.safeParse(call?.args).success).toBe(true);
  });

  it("a ToolMessage round trip answers with the tool's result", async () => {
    const withTools = model().bindTools([getWeather]);
    const question = new HumanMessage(WEATHER_QUESTION);
    const callMessage = await withTools.invoke([question]);
    const call = callMessage.tool_calls?.[0];
    expect(call?.id, JSON.stringify(callMessage)).toBeDefined();
    // The tool runs through LangChain's own ToolCall → ToolMessage path.
    const toolMessage = await getWeather.invoke(call as NonNullable<typeof call>);
    expect(toolMessage).toBeInstanceOf(ToolMessage);
    const answer = await withTools.invoke([question, callMessage, toolMessage]);
    expect(answer).toBeInstanceOf(AIMessage);
    expect(answer.tool_calls ?? []).toEqual([]);
    expect(answer.text).toContain(WEATHER_STATION);
  });

  it("withStructuredOutput(zod) returns the parsed object (JSON Schema method, the default)", async () => {
    const structured = model().withStructuredOutput(forecastSchema, { name: "forecast" });
    const forecast = await structured.invoke(FORECAST_QUESTION);
    expect(forecastSchema.parse(forecast)).toEqual(forecast);
  });

  it("withStructuredOutput(zod) returns the parsed object by forced function calling", async () => {
    const structured = model().withStructuredOutput(forecastSchema, {
      name: "forecast",
      method: "functionCalling",
    });
    const forecast = await structured.invoke(FORECAST_QUESTION);
    expect(forecastSchema.parse(forecast)).toEqual(forecast);
  });
});
