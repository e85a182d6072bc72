import { describe, expect, it } from "vitest";
import { BackendError } from "../../src/backends/backend.js";
import { createMockBackend } from "../../src/backends/mock/mock-backend.js";
import { SchemaSampleError, sampleJson } from "../../src/backends/mock/schema-sampler.js";
import { MAX_PARALLEL_CALLS } from "../../src/backends/mock/tool-rule.js";
import { ApiError } from "../../src/lib/api-error.js";
import { compileJsonSchema } from "../../src/lib/json-schema-validator.js";
import { assertUsableSchema } from "../../src/services/schema-rules.js";
import { generateRequest } from "../helpers/generate-request.js";

/** Red-team regressions: hostile schemas get a 400 that says what to fix, fast, never a crash. */

const RULES = { strict: false, param: "tools", kind: "function", name: "f" } as const;
const backend = createMockBackend({ ttftMs: 0, tokensPerSecond: 0 });

function nested(depth: number): Record<string, unknown> {
  let schema: Record<string, unknown> = { type: "string" };
  for (let level = 0; level < depth; level++) {
    schema = { type: "object", properties: { a: schema }, required: ["a"] };
  }
  return schema;
}

async function mockAnswer(schema: unknown): Promise<{ status: number; text: string }> {
  const request = generateRequest("weather in Paris", {
    outputFormat: {
      type: "json_schema",
      name: "x",
      schema: schema as Record<string, unknown>,
      strict: false,
      description: null,
    },
  });
  try {
    const generation = await backend.generate(request, new AbortController().signal);
    const item = generation.items[0];
    const part = item?.type === "message" ? item.parts[0] : undefined;
    return { status: 200, text: part?.type === "text" ? part.text : "" };
  } catch (error) {
    if (error instanceof BackendError) {
      return { status: error.status ?? 0, text: error.message };
    }
    throw error;
  }
}

function rulesError(schema: unknown): ApiError {
  try {
    assertUsableSchema(schema, RULES);
  } catch (error) {
    if (error instanceof ApiError) {
      return error;
    }
    throw error;
  }
  throw new Error("the schema was accepted");
}

describe("a schema nested 10,000 levels deep", () => {
  it("is a 400 from the schema rules, not a stack overflow", () => {
    const error = rulesError(nested(10_000));
    expect(error.status).toBe(400);
    expect(error.message).toContain("nests more than 200 levels deep");
  });

  it("is a 400 from the mock, not a stack overflow", async () => {
    const answer = await mockAnswer(nested(10_000));
    expect(answer.status).toBe(400);
    expect(answer.text).toContain("nests more than 200 levels deep");
  });
});

describe("a $ref cycle with no subschema in between", () => {
  const cycle = {
    $defs: { a: { $ref: "#/$defs/b" }, b: { $ref: "#/$defs/a" } },
    $ref: "#/$defs/a",
  };

  it("is refused quickly with a message naming the cycle (Ajv overflowed its stack)", () => {
    const started = performance.now();
    const error = rulesError(cycle);
    expect(error.message).toContain("leads back to itself through $refs alone");
    expect(performance.now() - started).toBeLessThan(100);
  });

  it("still compiles a recursion through a property", () => {
    const tree = {
      $defs: { node: { type: "object", properties: { next: { $ref: "#/$defs/node" } } } },
      $ref: "#/$defs/node",
    };
    expect(compileJsonSchema(tree)({ next: { next: {} } })).toBe(true);
  });
});

describe("the false schema", () => {
  it("says it admits no value (not Ajv's 'removeSchema: invalid parameter')", () => {
    expect(() => sampleJson(false, { seed: "s", hints: [] })).toThrow(
      new SchemaSampleError(
        "The mock backend found no value that satisfies the schema (a false schema admits no value).",
      ),
    );
  });
});

describe("two schemas with the same $id", () => {
  it("get validators of their own", () => {
    const asString = compileJsonSchema({ $id: "https://example.com/same", type: "string" });
    const asInteger = compileJsonSchema({ $id: "https://example.com/same", type: "integer" });
    expect(asString("a")).toBe(true);
    expect(asInteger("a")).toBe(false);
    expect(asInteger(3)).toBe(true);
  });
});

describe("schemas that ask for a huge value", () => {
  for (const [name, schema] of Object.entries({
    "minItems 1e9": { type: "array", minItems: 1e9 },
    "minLength 1e9": { type: "string", minLength: 1e9 },
    "minProperties 1e9": { type: "object", minProperties: 1e9 },
    "a pattern's a{1000000000}": { type: "string", pattern: "^a{1000000000}$" },
  })) {
    it(`is a 400 naming the keyword, not a V8 abort of the process: ${name}`, async () => {
      const answer = await mockAnswer(schema);
      expect(answer.status).toBe(400);
      expect(answer.text).toContain("asks for a value larger than the mock writes");
    });
  }

  it("is a 400 when arrays of arrays multiply (10^20 items)", async () => {
    let schema: Record<string, unknown> = { type: "string" };
    for (let level = 0; level < 20; level++) {
      schema = { type: "array", minItems: 10, items: schema };
    }
    const answer = await mockAnswer(schema);
    expect(answer.status).toBe(400);
  });

  it("writes a 20,000-letter run and tokenizes it without holding the event loop", async () => {
    const started = performance.now();
    const answer = await mockAnswer({ type: "string", pattern: "^b{20000}$" });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(JSON.stringify("b".repeat(20_000)));
    expect(performance.now() - started).toBeLessThan(1000); // was ~1 s per 20 k, quadratic
  });
});

describe("properties named __proto__, constructor, hasOwnProperty", () => {
  it("are written as own properties (assigning __proto__ set the prototype and lost it)", async () => {
    const schema = JSON.parse(
      '{"type":"object","properties":{"__proto__":{"type":"object","properties":{"polluted":{"const":"yes"}},"required":["polluted"]},"constructor":{"type":"string"},"hasOwnProperty":{"type":"integer"}},"required":["__proto__","constructor","hasOwnProperty"]}',
    );
    const answer = await mockAnswer(schema);
    expect(answer.status).toBe(200);
    const value = JSON.parse(answer.text);
    expect(Object.keys(value).sort()).toEqual(["__proto__", "constructor", "hasOwnProperty"]);
    expect(value.__proto__).toEqual({ polluted: "yes" });
    expect(typeof value.hasOwnProperty).toBe("number");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("10,000 tools that all match the message", () => {
  it("are answered with at most MAX_PARALLEL_CALLS calls, without holding the event loop", async () => {
    const tools = Array.from({ length: 10_000 }, (_, index) => ({
      type: "function" as const,
      name: `get_weather_${index}`,
      description: "Get the weather forecast for a city",
      parameters: { type: "object", properties: { [`city${index}`]: { type: "string" } } },
      strict: false,
    }));
    const started = performance.now();
    const generation = await backend.generate(
      generateRequest("weather forecast in Paris", { tools }),
      new AbortController().signal,
    );
    expect(generation.items).toHaveLength(MAX_PARALLEL_CALLS);
    expect(performance.now() - started).toBeLessThan(2000); // was 20 s
  });
});
