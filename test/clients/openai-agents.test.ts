/**
 * `@openai/agents` (which runs on openai 7.x) against ferry's default mock, in both of its API
 * modes: an agent whose function tool is really executed and whose result reaches the final
 * output, streamed and not; a handoff; an agent with a zod `outputType`; a two-turn session that feeds
 * `result.history` back, which is where chat mode sends assistant and tool history in the shapes
 * the SDK writes them (content parts, tool_calls with null content).
 *
 * The SDK keeps its client and API mode in module globals, so the tests in this file run in order
 * and each sets the mode it needs.
 */
import {
  Agent,
  type AgentInputItem,
  run,
  setDefaultOpenAIClient,
  setOpenAIAPI,
  setTracingDisabled,
  tool,
} from "@openai/agents";
import OpenAI from "openai7";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
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
  weatherToolOutput,
} from "./weather-fixture.js";

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
  // Tracing would export spans to api.openai.com; these tests only talk to 127.0.0.1.
  setTracingDisabled(true);
  const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
  // `openai7` and the SDK's own nested `openai` are the same 7.x release in two directories;
  // their class declarations differ only by path (private fields make TypeScript say otherwise).
  setDefaultOpenAIClient(client as unknown as Parameters<typeof setDefaultOpenAIClient>[0]);
});
afterAll(async () => {
  await s.close({ removeData: true });
});

/** A weather agent whose tool records every call, so a test can prove it really ran. */
function weatherAgent() {
  const invocations: string[] = [];
  const getWeather = tool({
    name: WEATHER_TOOL_NAME,
    description: WEATHER_TOOL_DESCRIPTION,
    parameters: weatherArgs,
    execute: async ({ city }) => {
      invocations.push(city);
      return weatherToolOutput(city);
    },
  });
  const agent = new Agent({
    name: "Weather assistant",
    instructions: "Answer weather questions with the get_weather tool.",
    model: MODEL,
    tools: [getWeather],
  });
  return { agent, invocations };
}

const modes = [{ api: "responses" as const }, { api: "chat_completions" as const }];

describe.each(modes)("agents over $api", ({ api }) => {
  beforeEach(() => {
    setOpenAIAPI(api);
  });

  it("runs an agent with a function tool to completion, using the tool's result", async () => {
    const { agent, invocations } = weatherAgent();
    const result = await run(agent, WEATHER_QUESTION);
    expect(invocations).toHaveLength(1);
    expect(result.finalOutput).toContain(WEATHER_STATION);
    const itemTypes = result.newItems.map((item) => item.type);
    expect(itemTypes).toEqual(["tool_call_item", "tool_call_output_item", "message_output_item"]);
  });

  it("runs the same agent streamed: text stream, then completed", async () => {
    const { agent, invocations } = weatherAgent();
    const stream = await run(agent, WEATHER_QUESTION, { stream: true });
    const eventNames: string[] = [];
    let text = "";
    for await (const event of stream) {
      if (event.type === "run_item_stream_event") {
        eventNames.push(event.name);
      } else if (
        event.type === "raw_model_stream_event" &&
        event.data.type === "output_text_delta"
      ) {
        text += event.data.delta;
      }
    }
    await stream.completed;
    expect(stream.error).toBeNull();
    expect(invocations).toHaveLength(1);
    expect(eventNames).toEqual(["tool_called", "tool_output", "message_output_created"]);
    expect(text).toContain(WEATHER_STATION);
    expect(stream.finalOutput).toBe(text);
  });

  it("consumes toTextStream() of a streamed run", async () => {
    const { agent, invocations } = weatherAgent();
    const stream = await run(agent, WEATHER_QUESTION, { stream: true });
    let text = "";
    for await (const chunk of stream.toTextStream()) {
      text += chunk;
    }
    await stream.completed;
    expect(invocations).toHaveLength(1);
    expect(text).toContain(WEATHER_STATION);
  });

  it("runs two matching tools in one turn and answers with both results", async () => {
    const { agent, invocations } = weatherAgent();
    const timeCalls: string[] = [];
    const getTime = tool({
      name: TIME_TOOL_NAME,
      description: TIME_TOOL_DESCRIPTION,
      parameters: weatherArgs,
      execute: async ({ city }) => {
        timeCalls.push(city);
        return timeToolOutput(city);
      },
    });
    const both = agent.clone({ tools: [...agent.tools, getTime] });
    const result = await run(both, WEATHER_AND_TIME_QUESTION);
    expect(invocations).toHaveLength(1);
    expect(timeCalls).toHaveLength(1);
    expect(result.finalOutput).toContain(WEATHER_STATION);
    expect(result.finalOutput).toContain(TIME_ZONE_TOKEN);
  });

  it("hands off from a triage agent to the weather agent (a handoff is a tool call)", async () => {
    const { agent: weather } = weatherAgent();
    const triage = new Agent({
      name: "Triage",
      instructions: "Route each question to the right specialist.",
      model: MODEL,
      handoffs: [weather],
    });
    const result = await run(triage, WEATHER_QUESTION);
    expect(result.lastAgent?.name).toBe(weather.name);
    expect(result.newItems.map((item) => item.type).slice(0, 2)).toEqual([
      "handoff_call_item",
      "handoff_output_item",
    ]);
    expect(result.newItems.at(-1)?.type).toBe("message_output_item");
  });

  it("forces the tool with toolChoice required, then stops forcing it (resetToolChoice)", async () => {
    const { agent, invocations } = weatherAgent();
    const forced = agent.clone({ modelSettings: { toolChoice: "required" } });
    const result = await run(forced, "Hello there!");
    expect(invocations).toHaveLength(1);
    expect(result.finalOutput).toContain(WEATHER_STATION);
  });

  it("runs a tool with reasoning on: the reasoning item goes back in the next model call", async () => {
    const { agent, invocations } = weatherAgent();
    const reasoning = agent.clone({ modelSettings: { reasoning: { effort: "low" } } });
    const result = await run(reasoning, WEATHER_QUESTION);
    expect(invocations).toHaveLength(1);
    expect(result.finalOutput).toContain(WEATHER_STATION);
    if (api === "responses") {
      expect(result.newItems[0]?.type).toBe("reasoning_item");
    }
  });

  it("streams an agent with a zod outputType to a parsed object", async () => {
    const agent = new Agent({
      name: "Forecaster",
      instructions: "Reply with a forecast.",
      model: MODEL,
      outputType: forecastSchema,
    });
    const stream = await run(agent, FORECAST_QUESTION, { stream: true });
    for await (const _event of stream) {
      // drain
    }
    await stream.completed;
    expect(forecastSchema.parse(stream.finalOutput)).toEqual(stream.finalOutput);
  });

  it("returns a parsed object for an agent with a zod outputType", async () => {
    const agent = new Agent({
      name: "Forecaster",
      instructions: "Reply with a forecast.",
      model: MODEL,
      outputType: forecastSchema,
    });
    const result = await run(agent, FORECAST_QUESTION);
    expect(typeof result.finalOutput).toBe("object");
    expect(forecastSchema.parse(result.finalOutput)).toEqual(result.finalOutput);
  });

  it("continues a plain session: the assistant's history message goes back as the SDK wrote it", async () => {
    const agent = new Agent({ name: "Chatter", instructions: "Be brief.", model: MODEL });
    const first = await run(agent, "Name a colour.");
    const followUp: AgentInputItem = { role: "user", content: "And another one?" };
    const second = await run(agent, [...first.history, followUp]);
    expect((second.finalOutput ?? "").length).toBeGreaterThan(0);
    expect(second.history.map((item) => ("role" in item ? item.role : item.type))).toEqual([
      "user",
      "assistant",
      "user",
      "assistant",
    ]);
  });

  it("continues a tool session: the second turn sends result.history plus a new user message", async () => {
    const { agent, invocations } = weatherAgent();
    const first = await run(agent, WEATHER_QUESTION);
    expect(invocations).toHaveLength(1);
    // History now holds: user, function call, function result, assistant message (as parts).
    const followUp: AgentInputItem = {
      role: "user",
      content: "Thanks. Should I take an umbrella, then?",
    };
    const second = await run(agent, [...first.history, followUp]);
    expect(typeof second.finalOutput).toBe("string");
    expect((second.finalOutput ?? "").length).toBeGreaterThan(0);
    // No keyword of the follow-up matches the tool, so the mock answers without calling it again.
    expect(invocations).toHaveLength(1);
    expect(second.history.length).toBe(first.history.length + 2);
  });
});

describe("agents over responses, server-side state", () => {
  beforeEach(() => {
    setOpenAIAPI("responses");
  });

  it("continues a tool session with previousResponseId, sending only the new turn", async () => {
    const { agent, invocations } = weatherAgent();
    const first = await run(agent, WEATHER_QUESTION);
    expect(invocations).toHaveLength(1);
    expect(first.lastResponseId).toMatch(/^resp_/);
    const second = await run(agent, "Thanks. Should I take an umbrella, then?", {
      previousResponseId: first.lastResponseId,
    });
    expect((second.finalOutput ?? "").length).toBeGreaterThan(0);
    expect(second.lastResponseId).not.toBe(first.lastResponseId);
  });
});
