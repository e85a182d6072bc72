import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend, GenerateRequest } from "../../src/backends/backend.js";
import type { Router } from "../../src/backends/router.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

/**
 * Request validation of POST /v1/responses over HTTP, and what reaches the backend: a recording
 * backend stands beside the mock under the model "native-model" (it speaks Responses natively,
 * as an `openai-responses` upstream will) and "recorded-model" (it does not).
 */

const MODEL = "gpt-4o-mini";
const PNG_1X1 = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

let t: TestContext;
let seen: GenerateRequest[];

/** The mock's backend, recording each request; `native` marks it a Responses-native backend. */
function recording(backend: Backend, native: boolean): Backend {
  return {
    name: backend.name,
    ...(native ? { native: "responses" as const } : {}),
    generate(request, signal) {
      seen.push(request);
      return backend.generate(request, signal);
    },
    streamGenerate(request, signal) {
      seen.push(request);
      return backend.streamGenerate(request, signal);
    },
    embed: (request, signal) => backend.embed(request, signal),
  };
}

function withRecordingModels(configured: Router): Router {
  return {
    ...configured,
    resolve(model) {
      const name = model === "native-model" || model === "recorded-model" ? MODEL : model;
      const resolved = configured.resolve(name);
      if (resolved === null || name === model) {
        return resolved;
      }
      return { ...resolved, backend: recording(resolved.backend, model === "native-model") };
    },
  };
}

beforeEach(() => {
  seen = [];
  t = createTestContext({ router: withRecordingModels });
});
afterEach(() => t.close());

async function expect400(body: Record<string, unknown>, param: string | null, message?: RegExp) {
  const res = await t.post("/v1/responses", { model: MODEL, input: "hi", ...body });
  const text = await res.text();
  expect(res.status, text).toBe(400);
  const error = (
    JSON.parse(text) as { error: { message: string; param: string | null; type: string } }
  ).error;
  expect(error.type).toBe("invalid_request_error");
  expect(error.param).toBe(param);
  if (message !== undefined) {
    expect(error.message).toMatch(message);
  }
  return error;
}

async function createOk(body: Record<string, unknown>) {
  const res = await t.post("/v1/responses", { model: MODEL, input: "hi", ...body });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as { id: string; status: string; output: Record<string, unknown>[] };
}

const weather = {
  type: "function",
  name: "get_weather",
  description: "Weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};

describe("function tools", () => {
  it("accepts a well-formed function tool", async () => {
    await createOk({ tools: [weather], tool_choice: "auto" });
  });

  it("refuses a name outside ^[a-zA-Z0-9_-]{1,64}$", async () => {
    await expect400({ tools: [{ ...weather, name: "get weather" }] }, "tools[0].name", /pattern/);
    await expect400({ tools: [{ ...weather, name: "x".repeat(65) }] }, "tools[0].name");
  });

  it("refuses parameters that are not an object", async () => {
    await expect400({ tools: [{ ...weather, parameters: "city" }] }, "tools[0].parameters");
    await expect400({ tools: [{ ...weather, parameters: [] }] }, "tools[0].parameters");
  });

  it("refuses parameters whose root is not an object schema", async () => {
    await expect400(
      { tools: [{ ...weather, parameters: { type: "string" } }] },
      "tools[0].parameters",
      /type: "object"/,
    );
  });

  it("refuses an unknown key, as OpenAI does", async () => {
    await expect400(
      { tools: [{ ...weather, argument_schema: {} }] },
      "tools[0].argument_schema",
      /^Unknown parameter: 'tools\[0\]\.argument_schema'\.$/,
    );
  });

  it("refuses two tools of one name", async () => {
    await expect400(
      { tools: [weather, { ...weather, description: "again" }] },
      "tools[1].name",
      /Duplicate tool name 'get_weather'/,
    );
  });

  it("refuses a tool without a type, and an unknown type", async () => {
    const missing = await expect400({ tools: [{ name: "lookup" }] }, "tools[0].type");
    expect(missing.message).toBe("Missing required parameter: 'tools[0].type'.");
    await expect400(
      { tools: [{ type: "teleport" }] },
      "tools[0].type",
      /^Invalid value for 'tools\[0\]\.type'\. Supported values are: 'function', 'file_search'/,
    );
  });
});

describe("tool_choice", () => {
  it("refuses a function not in tools with OpenAI's message", async () => {
    const error = await expect400(
      { tools: [weather], tool_choice: { type: "function", name: "get_time" } },
      "tool_choice",
    );
    expect(error.message).toBe("Tool choice 'function' not found in 'tools' parameter.");
    await expect400({ tool_choice: { type: "function", name: "get_weather" } }, "tool_choice");
  });

  it("accepts a named function and allowed_tools that exist", async () => {
    await createOk({ tools: [weather], tool_choice: { type: "function", name: "get_weather" } });
    await createOk({
      tools: [weather],
      tool_choice: {
        type: "allowed_tools",
        mode: "auto",
        tools: [{ type: "function", name: "get_weather" }],
      },
    });
  });

  it("checks the shape and names of allowed_tools", async () => {
    await expect400(
      { tools: [weather], tool_choice: { type: "allowed_tools", tools: [] } },
      "tool_choice.mode",
    );
    await expect400(
      {
        tools: [weather],
        tool_choice: { type: "allowed_tools", mode: "sometimes", tools: [] },
      },
      "tool_choice.mode",
    );
    await expect400(
      {
        tools: [weather],
        tool_choice: {
          type: "allowed_tools",
          mode: "required",
          tools: [{ type: "function", name: "nope" }],
        },
      },
      "tool_choice.tools[0]",
      /'nope'/,
    );
  });
});

describe("built-in tools", () => {
  for (const type of [
    "web_search",
    "web_search_preview",
    "file_search",
    "code_interpreter",
    "computer_use_preview",
    "image_generation",
    "mcp",
    "local_shell",
    "shell",
    "apply_patch",
    "custom",
  ]) {
    it(`refuses '${type}' on a backend that runs function tools only`, async () => {
      await expect400(
        { tools: [weather, { type }] },
        "tools[1]",
        new RegExp(`'${type}' tool .*cannot be used with model '${MODEL}'.*ferry's backend`),
      );
    });
  }

  it("refuses a built-in tool_choice on such a backend", async () => {
    await expect400(
      { tool_choice: { type: "web_search_preview" } },
      "tool_choice",
      /web_search_preview/,
    );
  });

  it("passes them to a native Responses backend, with the whole body", async () => {
    await createOk({
      model: "native-model",
      tools: [{ type: "web_search", search_context_size: "low" }, weather],
      tool_choice: { type: "web_search" },
      include: ["web_search_call.action.sources"],
    });
    expect(seen[0]?.responsesBody).toMatchObject({
      model: "native-model",
      tools: [{ type: "web_search", search_context_size: "low" }, weather],
      input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }],
    });
  });
});

describe("include", () => {
  it("accepts OpenAI's values", async () => {
    await createOk({
      include: ["reasoning.encrypted_content", "message.output_text.logprobs"],
      top_logprobs: 2,
    });
  });

  it("refuses an unknown value, naming it", async () => {
    await expect400({ include: ["output_text.everything"] }, "include[0]", /Supported values are/);
  });

  it("turns logprobs on for the backend", async () => {
    await createOk({
      model: "recorded-model",
      include: ["message.output_text.logprobs"],
      top_logprobs: 3,
    });
    expect(seen[0]?.sampling).toMatchObject({ logprobs: true, topLogprobs: 3 });
  });
});

describe("the native body", () => {
  it("holds the conversation behind previous_response_id, and no previous_response_id", async () => {
    const first = await createOk({ model: "native-model", input: "first" });
    await createOk({ model: "native-model", input: "second", previous_response_id: first.id });
    const body = seen[1]?.responsesBody as Record<string, unknown>;
    expect(body).not.toHaveProperty("previous_response_id");
    const input = body.input as Record<string, unknown>[];
    expect(input.map((item) => item.type)).toEqual(["message", "message", "message"]);
    expect(input[0]).toMatchObject({ role: "user", content: [{ text: "first" }] });
    expect(input[1]).toMatchObject({ role: "assistant", id: first.output[0]?.id });
    expect(input[2]).toMatchObject({ role: "user", content: [{ text: "second" }] });
  });

  it("is left out for other backends", async () => {
    await createOk({ model: "recorded-model" });
    expect(seen[0]).toBeDefined();
    expect(seen[0]?.responsesBody).toBeUndefined();
  });
});

describe("input items", () => {
  it("accepts output items sent back as input, with every field OpenAI gives them", async () => {
    await createOk({
      model: "recorded-model",
      tools: [weather],
      input: [
        { role: "user", content: "Weather in Paris?" },
        {
          type: "reasoning",
          id: "rs_1",
          summary: [{ type: "summary_text", text: "Need the weather." }],
          content: [{ type: "reasoning_text", text: "Call get_weather." }],
          encrypted_content: "gAAAA-opaque",
          status: "completed",
        },
        {
          type: "function_call",
          id: "fc_1",
          call_id: "call_1",
          name: "get_weather",
          arguments: '{"city":"Paris"}',
          status: "completed",
        },
        { type: "function_call_output", call_id: "call_1", output: '{"temp":21}' },
        {
          type: "message",
          id: "msg_1",
          role: "assistant",
          status: "completed",
          content: [
            {
              type: "output_text",
              text: "It is 21°C.",
              annotations: [],
              logprobs: [{ token: "It", logprob: -0.1, bytes: [73, 116], top_logprobs: [] }],
            },
          ],
        },
        {
          type: "function_call_output",
          call_id: "call_1",
          output: [
            { type: "input_text", text: "a picture of it" },
            {
              type: "input_image",
              image_url: `data:image/png;base64,${PNG_1X1.toString("base64")}`,
            },
          ],
        },
        { role: "user", content: "Thanks" },
      ],
    });
    const messages = seen[0]?.messages ?? [];
    expect(messages.map((message) => message.role)).toEqual([
      "user",
      "assistant",
      "tool",
      "assistant",
      "tool",
      "user",
    ]);
    expect(messages[1]).toMatchObject({
      toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' }],
      reasoning: "Call get_weather.",
    });
    expect(messages[2]).toMatchObject({ toolCallId: "call_1", content: [{ text: '{"temp":21}' }] });
    expect(messages[4]).toMatchObject({
      content: [
        { type: "text" },
        { type: "image", url: expect.stringMatching(/^data:image\/png/) },
      ],
    });
  });

  it("continues a function call through previous_response_id", async () => {
    const first = await createOk({
      model: "recorded-model",
      tools: [weather],
      input: "What is the weather in Paris?",
    });
    const call = first.output.find((item) => item.type === "function_call");
    expect(call).toMatchObject({ name: "get_weather", status: "completed" });
    expect(first.status).toBe("completed");
    const second = await createOk({
      model: "recorded-model",
      tools: [weather],
      previous_response_id: first.id,
      input: [{ type: "function_call_output", call_id: call?.call_id, output: '{"temp":21}' }],
    });
    expect(seen[1]?.messages).toMatchObject([
      { role: "user" },
      { role: "assistant", toolCalls: [{ id: call?.call_id, name: "get_weather" }] },
      { role: "tool", toolCallId: call?.call_id, content: [{ type: "text", text: '{"temp":21}' }] },
    ]);
    // The mock answers a tool's output with text that uses it.
    expect(JSON.stringify(second.output)).toContain("21");
  });

  it("refuses an image that is not an http(s) or data URL", async () => {
    await expect400(
      {
        input: [
          { role: "user", content: [{ type: "input_image", image_url: "file:///etc/passwd" }] },
        ],
      },
      "input[0].content[0].image_url",
    );
    await expect400(
      { input: [{ role: "user", content: [{ type: "input_image", detail: "low" }] }] },
      "input[0].content[0].image_url",
    );
  });
});

describe("images by file_id", () => {
  async function uploadFile(bytes: Buffer, purpose: string, filename = "pixel.png") {
    const form = new FormData();
    form.append("purpose", purpose);
    form.append("file", new Blob([bytes]), filename);
    const res = await t.app.request("/v1/files", { method: "POST", body: form });
    expect(res.status, await res.clone().text()).toBe(200);
    return ((await res.json()) as { id: string }).id;
  }

  const imageInput = (fileId: string) => [
    {
      role: "user",
      content: [
        { type: "input_text", text: "What is this?" },
        { type: "input_image", file_id: fileId, detail: "low" },
      ],
    },
  ];

  it("reaches the backend as a data URL", async () => {
    const fileId = await uploadFile(PNG_1X1, "vision");
    await createOk({ model: "recorded-model", input: imageInput(fileId) });
    const part = seen[0]?.messages[0]?.content[1];
    expect(part).toEqual({
      type: "image",
      url: `data:image/png;base64,${PNG_1X1.toString("base64")}`,
      detail: "low",
      fileId,
    });
  });

  it("reaches a native backend inline too: the upstream has no ferry files", async () => {
    const fileId = await uploadFile(PNG_1X1, "vision");
    await createOk({ model: "native-model", input: imageInput(fileId) });
    const input = seen[0]?.responsesBody?.input as { content: Record<string, unknown>[] }[];
    expect(input[0]?.content[1]).toEqual({
      type: "input_image",
      image_url: `data:image/png;base64,${PNG_1X1.toString("base64")}`,
      detail: "low",
    });
  });

  it("is a 400 naming the part when the file does not exist", async () => {
    await expect400(
      { input: imageInput("file-doesnotexist") },
      "input[0].content[1].file_id",
      /file-doesnotexist/,
    );
  });

  it("is a 400 when the file is not an image, or not model input", async () => {
    const text = await uploadFile(Buffer.from("just text"), "user_data", "notes.txt");
    await expect400({ input: imageInput(text) }, "input[0].content[1].file_id", /PNG, JPEG/);
    const batch = await uploadFile(
      Buffer.from(
        `${JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/responses", body: { model: MODEL, input: "x" } })}\n`,
      ),
      "batch",
      "batch.jsonl",
    );
    await expect400({ input: imageInput(batch) }, "input[0].content[1].file_id", /purpose 'batch'/);
  });

  it("caps the size of an image", async () => {
    const { resolveFileParts } = await import("../../src/services/file-parts.js");
    const fileId = await uploadFile(PNG_1X1, "vision");
    await expect(
      resolveFileParts(
        [{ role: "user", content: [{ type: "image", url: "", detail: "auto", fileId }] }],
        {
          projectId: "default",
          files: t.services.files,
          paramFor: () => "messages[0].content[0]",
          maxImageBytes: 10,
        },
      ),
    ).rejects.toMatchObject({ status: 400, options: { param: "messages[0].content[0]" } });
  });
});

describe("POST /v1/responses with tools repeated from an earlier request", () => {
  // Large enough for the repeated-member cache (json-member-cache.ts) to remember them.
  const tools = ["get_weather", "get_time", "get_news", "get_stock"].map((name) => ({
    strict: true,
    parameters: {
      type: "object",
      properties: { city: { type: "string", description: `The city ${name} is for` } },
      required: ["city"],
      additionalProperties: false,
    },
    name,
    type: "function",
  }));
  const text = {
    format: { type: "json_schema", name: "answer", strict: true, schema: tools[0]?.parameters },
  };

  it("answers and stores exactly what the first request got, the body parsed whole", async () => {
    const first = await createOk({ tools, text, input: "Weather in Oslo?" });
    const again = await createOk({ tools, text, input: "Weather in Oslo?" });
    const withoutIds = (response: Record<string, unknown>) =>
      JSON.stringify({ ...response, id: null, created_at: null, completed_at: null, output: null });
    expect(withoutIds(again)).toBe(withoutIds(first));
    expect(again.output.map((item) => item.type)).toEqual(first.output.map((item) => item.type));
    // Echoed in OpenAI's field order (the parse's), not the request's.
    expect(Object.keys((again as unknown as { tools: object[] }).tools[0] ?? {})).toEqual([
      "type",
      "name",
      "parameters",
      "strict",
    ]);
    const stored = await t.get(`/v1/responses/${again.id}`);
    expect(withoutIds((await stored.json()) as Record<string, unknown>)).toBe(withoutIds(again));
  });

  it("still refuses what is wrong around them, and what is wrong with them", async () => {
    await createOk({ tools, text });
    await expect400({ tools, text, temperature: 3 }, "temperature");
    await expect400(
      { tools, text, tool_choice: { type: "function", name: "nope" } },
      "tool_choice",
    );
    await expect400({ tools, text, unknown_field: 1 }, "unknown_field", /Unknown parameter/);
    await expect400({ tools: [...tools, tools[0]], text }, "tools[4].name", /Duplicate tool name/);
    const res = await t.post(
      "/v1/responses",
      `{"model":"${MODEL}","tools":${JSON.stringify(tools)},"text":${JSON.stringify(text)},}`,
    );
    expect(res.status).toBe(400);
  });
});
