import { describe, expect, it } from "vitest";
import { BackendError } from "../../src/backends/backend.js";
import { imageDimensionsOf, imageTokens } from "../../src/backends/mock/image-tokens.js";
import { cutAtStopSequence } from "../../src/backends/mock/stop-sequences.js";
import { tokenLogprobs } from "../../src/backends/mock/token-logprobs.js";
import { answerFromToolOutputs } from "../../src/backends/mock/tool-answer.js";
import {
  buildToolCalls,
  chooseToolsToCall,
  type ToolRuleInput,
} from "../../src/backends/mock/tool-rule.js";
import type { FunctionTool, ModelMessage } from "../../src/backends/model-contract.js";
import { compileJsonSchema } from "../../src/lib/json-schema-validator.js";

function tool(
  name: string,
  description: string | null = null,
  parameters: FunctionTool["parameters"] = null,
): FunctionTool {
  return { type: "function", name, description, parameters, strict: false };
}

const weatherParameters = {
  type: "object",
  properties: {
    city: { type: "string" },
    unit: { type: "string", enum: ["celsius", "fahrenheit"] },
  },
  required: ["city", "unit"],
  additionalProperties: false,
};
const TOOLS = [
  tool("get_weather", "Get the current weather forecast for a city", weatherParameters),
  tool("searchFlights", "Find flights between two airports"),
  tool("send-email", "Send an email message to a recipient"),
];

const user = (text: string): ModelMessage => ({ role: "user", content: [{ type: "text", text }] });

function choose(text: string, overrides: Partial<ToolRuleInput> = {}): string[] {
  return chooseToolsToCall({
    messages: [user(text)],
    tools: TOOLS,
    toolChoice: { type: "auto" },
    parallelToolCalls: true,
    knob: null,
    ...overrides,
  }).map((chosen) => chosen.name);
}

describe("chooseToolsToCall", () => {
  it("calls a tool named in the message, in any spelling", () => {
    expect(choose("please run get_weather")).toEqual(["get_weather"]);
    expect(choose("Get Weather for me")).toEqual(["get_weather"]);
    expect(choose("use search flights now")).toEqual(["searchFlights"]);
    expect(choose("send email to Bob")).toEqual(["send-email"]);
  });

  it("calls a tool that shares a keyword with its description", () => {
    expect(choose("Is there a forecast of rain in Paris?")).toEqual(["get_weather"]);
  });

  it("answers in text when nothing matches, or the keywords are filler", () => {
    expect(choose("Hello there, how are you?")).toEqual([]);
    expect(choose("tell me about this function and what it returns")).toEqual([]);
  });

  it("calls every matching tool in the order of tools, or only the best without parallel calls", () => {
    const text = "Check the weather forecast in Rome, look for flights, then email me";
    expect(choose(text)).toEqual(["get_weather", "searchFlights", "send-email"]);
    // get_weather shares "weather" and "forecast"; the others one keyword each.
    expect(choose(text, { parallelToolCalls: false })).toEqual(["get_weather"]);
    expect(choose("flights or email", { parallelToolCalls: false })).toEqual(["searchFlights"]);
  });

  it("always calls for required (the best match, else the first tool) and a named function", () => {
    expect(choose("Hello", { toolChoice: { type: "required" } })).toEqual(["get_weather"]);
    expect(choose("send an email and find flights", { toolChoice: { type: "required" } })).toEqual([
      "searchFlights",
    ]);
    expect(choose("Hello", { toolChoice: { type: "function", name: "send-email" } })).toEqual([
      "send-email",
    ]);
  });

  it("narrows to allowed_tools, with their mode", () => {
    const allowed = (mode: "auto" | "required") => ({
      type: "allowed" as const,
      mode,
      names: ["send-email"],
    });
    expect(choose("weather please", { toolChoice: allowed("auto") })).toEqual([]);
    expect(choose("weather please", { toolChoice: allowed("required") })).toEqual(["send-email"]);
    expect(choose("email Bob", { toolChoice: allowed("auto") })).toEqual(["send-email"]);
  });

  it("does not call again after a tool result unless forced", () => {
    const messages: ModelMessage[] = [
      user("weather in Paris"),
      {
        role: "assistant",
        content: [],
        toolCalls: [{ id: "call_1", name: "get_weather", arguments: "{}" }],
      },
      { role: "tool", toolCallId: "call_1", content: [{ type: "text", text: '{"temp":21}' }] },
    ];
    expect(choose("", { messages })).toEqual([]);
    expect(choose("", { messages, toolChoice: { type: "required" } })).toEqual(["get_weather"]);
  });

  it("obeys the mock_tool_call knob over tool_choice, and refuses an unknown name", () => {
    expect(
      choose("Hello", {
        knob: { kind: "force", name: "searchFlights" },
        toolChoice: { type: "none" },
      }),
    ).toEqual(["searchFlights"]);
    expect(
      choose("weather", { knob: { kind: "forbid" }, toolChoice: { type: "required" } }),
    ).toEqual([]);
    expect(() => choose("Hello", { knob: { kind: "force", name: "nope" } })).toThrow(BackendError);
    expect(() => choose("Hello", { knob: { kind: "force", name: "nope" } })).toThrow(
      /no function named 'nope'/,
    );
  });

  it("never calls with tool_choice none or without tools", () => {
    expect(choose("get_weather", { toolChoice: { type: "none" } })).toEqual([]);
    expect(choose("get_weather", { tools: [] })).toEqual([]);
  });
});

describe("buildToolCalls", () => {
  it("derives ids and valid arguments from the conversation, deterministically", () => {
    const messages = [user("What's the weather in Paris in fahrenheit?")];
    const calls = buildToolCalls(TOOLS, messages, "seed");
    expect(buildToolCalls(TOOLS, messages, "seed")).toEqual(calls);
    expect(calls.map((call) => call.name)).toEqual(["get_weather", "searchFlights", "send-email"]);
    for (const call of calls) {
      expect(call.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    }
    expect(new Set(calls.map((call) => call.id)).size).toBe(3);
    expect(JSON.parse(calls[0]?.arguments ?? "")).toEqual({ city: "Paris", unit: "fahrenheit" });
    expect(compileJsonSchema(weatherParameters)(JSON.parse(calls[0]?.arguments ?? ""))).toBe(true);
    // No declared parameters: an empty object.
    expect(calls[1]?.arguments).toBe("{}");
    expect(buildToolCalls(TOOLS, messages, "other seed")[0]?.id).not.toBe(calls[0]?.id);
  });
});

describe("answerFromToolOutputs", () => {
  it("quotes each output under its call's name", () => {
    const messages: ModelMessage[] = [
      user("weather in Paris and Rome"),
      {
        role: "assistant",
        content: [],
        toolCalls: [
          { id: "call_a", name: "get_weather", arguments: '{"city":"Paris"}' },
          { id: "call_b", name: "get_weather", arguments: '{"city":"Rome"}' },
        ],
      },
      { role: "tool", toolCallId: "call_a", content: [{ type: "text", text: '{"temp":21}' }] },
      { role: "tool", toolCallId: "call_b", content: [{ type: "text", text: '{"temp":25}' }] },
    ];
    const answer = answerFromToolOutputs(messages) ?? "";
    expect(answer.startsWith('Based on get_weather: {"temp":21}; get_weather: {"temp":25}, ')).toBe(
      true,
    );
    expect(answerFromToolOutputs(messages.slice(0, 2))).toBeNull();
  });
});

/** The first bytes of a PNG, enough for its size to be read. */
function pngDataUrl(width: number, height: number): string {
  const header = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(header, 0);
  header.writeUInt32BE(13, 8);
  header.write("IHDR", 12, "latin1");
  header.writeUInt32BE(width, 16);
  header.writeUInt32BE(height, 20);
  header[24] = 8;
  header[25] = 6;
  return `data:image/png;base64,${header.toString("base64")}`;
}

describe("image tokens", () => {
  it("counts as OpenAI documents for gpt-4o", () => {
    expect(imageTokens({ width: 4096, height: 8192 }, "low")).toBe(85);
    // OpenAI's examples: 1024×1024 → 765; 2048×4096 → 1105.
    expect(imageTokens({ width: 1024, height: 1024 }, "high")).toBe(765);
    expect(imageTokens({ width: 2048, height: 4096 }, "auto")).toBe(1105);
    expect(imageTokens({ width: 512, height: 512 }, "high")).toBe(255);
  });

  it("reads the size from a data URL, and assumes 1024×1024 for a URL it cannot fetch", () => {
    expect(imageDimensionsOf(pngDataUrl(640, 480))).toEqual({ width: 640, height: 480 });
    expect(imageDimensionsOf("https://example.com/cat.png")).toEqual({ width: 1024, height: 1024 });
    expect(imageDimensionsOf("data:image/png;base64,aGVsbG8=")).toBeNull();
  });
});

describe("tokenLogprobs", () => {
  it("gives each token a logprob at most 0, the token first among its alternatives", () => {
    const pieces = ["Hello", ",", " the", " world", " 東京"];
    const logprobs = tokenLogprobs(pieces, "seed", 3);
    expect(tokenLogprobs(pieces, "seed", 3)).toEqual(logprobs);
    expect(logprobs.map((entry) => entry.token)).toEqual(pieces);
    for (const entry of logprobs) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.bytes).toEqual([...Buffer.from(entry.token, "utf8")]);
      expect(entry.topLogprobs).toHaveLength(3);
      expect(entry.topLogprobs[0]).toEqual({
        token: entry.token,
        logprob: entry.logprob,
        bytes: entry.bytes,
      });
      const values = entry.topLogprobs.map((top) => top.logprob);
      expect([...values].sort((a, b) => b - a)).toEqual(values);
      expect(new Set(entry.topLogprobs.map((top) => top.token)).size).toBe(3);
    }
    expect(tokenLogprobs(pieces, "seed", 0)[0]?.topLogprobs).toEqual([]);
  });
});

describe("cutAtStopSequence", () => {
  it("cuts before the earliest stop sequence", () => {
    expect(cutAtStopSequence("one. two! three", ["!", "."])).toEqual({ text: "one", isCut: true });
    expect(cutAtStopSequence("one two", ["three", ""])).toEqual({ text: "one two", isCut: false });
  });
});
