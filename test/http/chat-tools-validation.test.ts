import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

const MODEL = "gpt-4o-mini";
const USER = [{ role: "user", content: "What is the weather in Paris?" }];
const WEATHER_TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the weather for a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
      additionalProperties: false,
    },
    strict: true,
  },
};

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

async function post(body: Record<string, unknown>) {
  const res = await t.post("/v1/chat/completions", { model: MODEL, messages: USER, ...body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function expect400(body: Record<string, unknown>, param: string, message: RegExp) {
  const res = await post(body);
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expectMatchesComponent("ErrorResponse", res.body);
  const error = res.body.error as { param: string | null; message: string; type: string };
  expect(error.type).toBe("invalid_request_error");
  expect(error.param).toBe(param);
  expect(error.message).toMatch(message);
}

async function expect200(body: Record<string, unknown>) {
  const res = await post(body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expectMatchesComponent("CreateChatCompletionResponse", res.body);
  return res.body;
}

describe("chat tools and formats: what is refused", () => {
  it("refuses a custom tool, saying ferry does not support custom tools", async () => {
    await expect400(
      { tools: [{ type: "custom", custom: { name: "grammar_tool" } }] },
      "tools[0]",
      /ferry does not support custom tools/,
    );
  });

  it("refuses a function name outside ^[a-zA-Z0-9_-]{1,64}$", async () => {
    for (const name of ["get weather", "a".repeat(65), "", "tool.v2"]) {
      await expect400(
        { tools: [{ type: "function", function: { name } }] },
        "tools[0].function.name",
        /not a valid function name/,
      );
    }
  });

  it("refuses a misspelt key in a function definition", async () => {
    await expect400(
      { tools: [{ type: "function", function: { name: "f", paramters: { type: "object" } } }] },
      "tools[0].function.paramters",
      /Unknown parameter/,
    );
  });

  it("refuses two functions with one name", async () => {
    await expect400(
      { tools: [WEATHER_TOOL, WEATHER_TOOL] },
      "tools[1].function.name",
      /'get_weather' is declared twice/,
    );
  });

  it("refuses a tool without a function, and an unknown tool type", async () => {
    await expect400({ tools: [{ type: "function" }] }, "tools[0].function", /required/i);
    const res = await post({ tools: [{ type: "web_search" }] });
    expect(res.status).toBe(400);
  });

  it("refuses a named tool_choice that is not in tools, and one without tools", async () => {
    await expect400(
      { tools: [WEATHER_TOOL], tool_choice: { type: "function", function: { name: "get_time" } } },
      "tool_choice.function.name",
      /no function named 'get_time'.*get_weather/,
    );
    await expect400(
      { tool_choice: { type: "function", function: { name: "get_weather" } } },
      "tool_choice",
      /only allowed when 'tools' are specified/,
    );
    await expect400({ tool_choice: "required" }, "tool_choice", /only allowed when 'tools'/);
  });

  it("refuses allowed_tools naming an undeclared function or a custom tool", async () => {
    await expect400(
      {
        tools: [WEATHER_TOOL],
        tool_choice: {
          type: "allowed_tools",
          allowed_tools: {
            mode: "auto",
            tools: [{ type: "function", function: { name: "nope" } }],
          },
        },
      },
      "tool_choice.allowed_tools.tools[0].function.name",
      /no function named 'nope'/,
    );
    await expect400(
      {
        tools: [WEATHER_TOOL],
        tool_choice: {
          type: "allowed_tools",
          allowed_tools: { mode: "required", tools: [{ type: "custom", custom: { name: "x" } }] },
        },
      },
      "tool_choice.allowed_tools.tools[0]",
      /custom tools/,
    );
  });

  it("refuses top_logprobs without logprobs: true", async () => {
    await expect400({ top_logprobs: 3 }, "top_logprobs", /requires 'logprobs' to be true/);
    await expect400({ top_logprobs: 3, logprobs: false }, "top_logprobs", /requires 'logprobs'/);
    await expect400({ logprobs: true, top_logprobs: 21 }, "top_logprobs", /./);
  });

  it("refuses a json_schema format without a name, with a bad name, or with unknown keys", async () => {
    await expect400(
      { response_format: { type: "json_schema", json_schema: { schema: { type: "object" } } } },
      "response_format.json_schema.name",
      /Missing required parameter/,
    );
    await expect400(
      { response_format: { type: "json_schema", json_schema: { name: "my format", schema: {} } } },
      "response_format.json_schema.name",
      /letters, digits, underscores or dashes/,
    );
    await expect400(
      {
        response_format: { type: "json_schema", json_schema: { name: "f", schema: {}, extra: 1 } },
      },
      "response_format.json_schema.extra",
      /Unknown parameter/,
    );
    await expect400(
      { response_format: { type: "json_schema" } },
      "response_format.json_schema",
      /./,
    );
    await expect400({ response_format: { type: "yaml" } }, "response_format.type", /./);
  });

  it("refuses a strict tool or format whose schema strict mode does not allow", async () => {
    const loose = {
      type: "object",
      properties: { a: { type: "string", not: { const: "x" } } },
      required: ["a"],
      additionalProperties: false,
    };
    await expect400(
      { tools: [{ type: "function", function: { name: "f", parameters: loose, strict: true } }] },
      "tools[0].function.parameters",
      /Invalid schema for function 'f'.*'not' is not permitted/,
    );
    await expect400(
      {
        response_format: {
          type: "json_schema",
          json_schema: { name: "out", strict: true, schema: { type: "string" } },
        },
      },
      "response_format.json_schema.schema",
      /Invalid schema for response_format 'out'.*type: "object"/,
    );
    await expect400(
      {
        response_format: {
          type: "json_schema",
          json_schema: { name: "out", schema: { type: "object", properties: { a: { type: 7 } } } },
        },
      },
      "response_format.json_schema.schema",
      /Invalid schema for response_format 'out'/,
    );
  });

  it("refuses tools together with the deprecated functions", async () => {
    await expect400(
      { tools: [WEATHER_TOOL], functions: [{ name: "get_time" }] },
      "functions",
      /either 'tools' or the deprecated 'functions'/,
    );
  });

  it("refuses a function_call naming an undeclared function", async () => {
    await expect400(
      { functions: [{ name: "get_time" }], function_call: { name: "get_weather" } },
      "function_call.name",
      /no function named 'get_weather'/,
    );
    await expect400(
      { function_call: { name: "x" } },
      "function_call",
      /only allowed when 'functions'/,
    );
  });

  it("refuses a tool message that answers no call", async () => {
    await expect400(
      {
        messages: [
          { role: "user", content: "hi" },
          { role: "tool", tool_call_id: "call_1", content: "{}" },
        ],
      },
      "messages[1].tool_call_id",
      /must be a response to a preceding message with 'tool_calls'/,
    );
  });

  it("refuses a custom tool call in history", async () => {
    await expect400(
      {
        messages: [
          ...USER,
          {
            role: "assistant",
            tool_calls: [{ id: "c1", type: "custom", custom: { name: "g", input: "x" } }],
          },
        ],
      },
      "messages[1].tool_calls[0]",
      /custom tools/,
    );
  });

  it("refuses web search and audio output, which ferry cannot give, rather than dropping them", async () => {
    await expect400(
      { web_search_options: {} },
      "web_search_options",
      /does not support web search/,
    );
    await expect400({ modalities: ["text", "audio"] }, "modalities", /does not generate audio/);
    await expect400(
      { audio: { voice: "alloy", format: "mp3" } },
      "audio",
      /does not generate audio/,
    );
    await expect200({ modalities: ["text"] });
  });

  it("refuses an unknown message field", async () => {
    await expect400(
      { messages: [{ role: "user", content: "hi", colour: "blue" }] },
      "messages[0].colour",
      /Unknown parameter/,
    );
  });
});

describe("chat tools and formats: what is accepted", () => {
  it("takes function tools with every tool_choice form, parallel_tool_calls, seed, stop and n", async () => {
    for (const tool_choice of [
      "auto",
      "none",
      "required",
      { type: "function", function: { name: "get_weather" } },
      {
        type: "allowed_tools",
        allowed_tools: {
          mode: "auto",
          tools: [{ type: "function", function: { name: "get_weather" } }],
        },
      },
    ]) {
      await expect200({
        tools: [WEATHER_TOOL],
        tool_choice,
        parallel_tool_calls: false,
        seed: 7,
        stop: ["\n\n"],
        n: 2,
      });
    }
  });

  it("takes every response_format and logprobs with top_logprobs", async () => {
    await expect200({ response_format: { type: "text" } });
    await expect200({
      response_format: { type: "json_object" },
      messages: [{ role: "user", content: "JSON please" }],
    });
    await expect200({
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "answer",
          description: "The answer",
          strict: true,
          schema: {
            type: "object",
            properties: { answer: { type: "string" } },
            required: ["answer"],
            additionalProperties: false,
          },
        },
      },
    });
    await expect200({ logprobs: true, top_logprobs: 2 });
    await expect200({ logprobs: true });
  });

  it("takes legacy functions and function_call", async () => {
    await expect200({ functions: [{ name: "get_weather", parameters: { type: "object" } }] });
    await expect200({ functions: [{ name: "get_weather" }], function_call: "none" });
    await expect200({
      functions: [{ name: "get_weather" }],
      function_call: { name: "get_weather" },
    });
  });

  it("takes history in every shape the SDKs send", async () => {
    await expect200({
      tools: [WEATHER_TOOL],
      messages: [
        { role: "developer", content: "Be brief.", name: "ops" },
        { role: "system", content: [{ type: "text", text: "You help with weather." }] },
        { role: "user", name: "ana", content: [{ type: "text", text: "Weather in Paris?" }] },
        // An echoed response message: content null, refusal null, annotations, tool_calls.
        {
          role: "assistant",
          content: null,
          refusal: null,
          annotations: [],
          tool_calls: [
            {
              id: "call_1",
              type: "function",
              function: { name: "get_weather", arguments: '{"city":"Paris"}' },
            },
          ],
        },
        {
          role: "tool",
          tool_call_id: "call_1",
          name: "get_weather",
          content: [{ type: "text", text: '{"temp":21}' }],
        },
        // Assistant content as parts, text and refusal; audio by id; no content at all.
        { role: "assistant", content: [{ type: "text", text: "It is 21°C." }], audio: null },
        { role: "user", content: "Anything else?" },
        { role: "assistant", content: [{ type: "refusal", refusal: "I can't." }] },
        { role: "user", content: "Ok. And now?" },
        {
          role: "assistant",
          tool_calls: [
            { id: "call_2", type: "function", function: { name: "get_weather", arguments: "{}" } },
            { id: "call_3", type: "function", function: { name: "get_weather", arguments: "{}" } },
          ],
        },
        { role: "tool", tool_call_id: "call_2", content: "{}" },
        { role: "tool", tool_call_id: "call_3", content: "{}" },
        { role: "assistant", content: "Done.", refusal: "", name: "bot" },
        { role: "user", content: "Thanks" },
      ],
    });
  });

  it("takes the legacy function_call history and function role", async () => {
    await expect200({
      functions: [{ name: "get_weather" }],
      messages: [
        ...USER,
        {
          role: "assistant",
          content: null,
          function_call: { name: "get_weather", arguments: "{}" },
        },
        { role: "function", name: "get_weather", content: '{"temp":21}' },
      ],
    });
  });

  it("takes the second turn @openai/agents sends in chat mode (message fields spread into parts)", async () => {
    // What agents-openai's itemsToMessages builds from a first turn's chat.completion: the
    // response message's other fields (providerData) are spread into its text part.
    await expect200({
      messages: [
        { role: "system", content: "You are helpful." },
        { role: "user", content: "Hi, I'm Ana." },
        {
          role: "assistant",
          content: [
            { type: "text", text: "Hello Ana!", role: "assistant", refusal: null, annotations: [] },
          ],
        },
        {
          role: "user",
          content: [{ type: "text", text: "What is my name?", prompt_cache_breakpoint: true }],
        },
      ],
    });
  });
});
