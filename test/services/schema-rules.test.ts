import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/lib/api-error.js";
import { assertUsableSchema, type SchemaRuleOptions } from "../../src/services/schema-rules.js";

const FORMAT: SchemaRuleOptions = {
  strict: true,
  param: "text.format.schema",
  kind: "response_format",
  name: "answer",
};
const FUNCTION: SchemaRuleOptions = {
  strict: true,
  param: "tools[0].parameters",
  kind: "function",
  name: "get_weather",
};

function errorOf(schema: unknown, options: SchemaRuleOptions): ApiError {
  try {
    assertUsableSchema(schema, options);
  } catch (error) {
    if (error instanceof ApiError) {
      return error;
    }
    throw error;
  }
  throw new Error("the schema was accepted");
}

const strictObject = (properties: Record<string, unknown>) => ({
  type: "object",
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});

describe("assertUsableSchema", () => {
  const corpusDir = join(import.meta.dirname, "../fixtures/json-schemas");
  const strictShapes = readdirSync(corpusDir).filter(
    (file) =>
      file.startsWith("strict-") ||
      /^zod-(text|response|function|responses|shared|union)/.test(file),
  );

  it.each(strictShapes)("accepts the strict-mode corpus schema %s as strict", (file) => {
    const schema = JSON.parse(readFileSync(join(corpusDir, file), "utf8"));
    expect(() => assertUsableSchema(schema, FORMAT)).not.toThrow();
  });

  it("accepts every corpus schema when not strict", () => {
    for (const file of readdirSync(corpusDir)) {
      const schema = JSON.parse(readFileSync(join(corpusDir, file), "utf8"));
      expect(() => assertUsableSchema(schema, { ...FORMAT, strict: false }), file).not.toThrow();
    }
  });

  it("requires additionalProperties: false on every object, naming where", () => {
    const schema = {
      ...strictObject({ a: { type: "object", properties: {}, required: [] } }),
    };
    const error = errorOf(schema, FORMAT);
    expect(error.status).toBe(400);
    expect(error.message).toBe(
      "Invalid schema for response_format 'answer': In context=('properties', 'a'), 'additionalProperties' is required to be supplied and to be false.",
    );
    expect(error.options.param).toBe("text.format.schema");
    expect(error.options.code).toBe("invalid_json_schema");
  });

  it("requires every property in required, naming the missing one", () => {
    const schema = {
      ...strictObject({ a: { type: "string" }, b: { type: "string" } }),
      required: ["a"],
    };
    const error = errorOf(schema, FUNCTION);
    expect(error.message).toBe(
      "Invalid schema for function 'get_weather': In context=(), 'required' is required to be supplied and to be an array including every key in properties. Missing 'b'.",
    );
    expect(error.options.code).toBe("invalid_function_parameters");
    expect(error.options.param).toBe("tools[0].parameters");
  });

  it("looks inside array items, anyOf branches and $defs", () => {
    const loose = { type: "object", properties: { x: { type: "string" } }, required: ["x"] };
    expect(
      errorOf(strictObject({ list: { type: "array", items: loose } }), FORMAT).message,
    ).toContain("In context=('properties', 'list', 'items'), 'additionalProperties'");
    expect(
      errorOf(strictObject({ v: { anyOf: [{ type: "null" }, loose] } }), FORMAT).message,
    ).toContain("In context=('properties', 'v', 'anyOf', 1), 'additionalProperties'");
    expect(
      errorOf({ ...strictObject({ n: { $ref: "#/$defs/node" } }), $defs: { node: loose } }, FORMAT)
        .message,
    ).toContain("In context=('$defs', 'node'), 'additionalProperties'");
  });

  it("requires an object at the root", () => {
    expect(errorOf({ type: "array", items: { type: "string" } }, FORMAT).message).toBe(
      `Invalid schema for response_format 'answer': schema must be a JSON Schema of 'type: "object"', got 'type: "array"'.`,
    );
    expect(errorOf({ anyOf: [strictObject({})] }, FORMAT).message).toContain(`got 'type: "None"'`);
  });

  it("refuses the keywords strict mode does not support", () => {
    const schema = strictObject({ a: { allOf: [{ type: "string" }] } });
    expect(errorOf(schema, FORMAT).message).toBe(
      "Invalid schema for response_format 'answer': In context=('properties', 'a'), 'allOf' is not permitted.",
    );
    expect(() => assertUsableSchema(schema, { ...FORMAT, strict: false })).not.toThrow();
  });

  it("refuses objects nested deeper than OpenAI allows", () => {
    let schema: Record<string, unknown> = strictObject({ leaf: { type: "string" } });
    for (let level = 0; level < 10; level++) {
      schema = strictObject({ child: schema });
    }
    expect(errorOf(schema, FORMAT).message).toContain("more than 10 levels deep");
  });

  it("refuses a schema Ajv cannot compile, strict or not", () => {
    const badRef = { type: "object", properties: { a: { $ref: "#/$defs/missing" } } };
    const error = errorOf(badRef, { ...FORMAT, strict: false });
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/^Invalid schema for response_format 'answer': .*missing/);
    expect(
      errorOf({ type: "string", pattern: "([" }, { ...FUNCTION, strict: false }).message,
    ).toMatch(/^Invalid schema for function 'get_weather': .*pattern/i);
    expect(errorOf({ type: 12 }, { ...FORMAT, strict: false }).message).toContain("type");
    expect(errorOf([], { ...FORMAT, strict: false }).message).toContain("must be a JSON object");
  });
});

describe("assertUsableSchema and $schema", () => {
  it.each([
    "http://json-schema.org/draft-04/schema#",
    "http://json-schema.org/draft-07/schema#",
    "https://json-schema.org/draft/2019-09/schema#",
    "https://json-schema.org/draft/2020-12/schema",
  ])("accepts a schema that declares %s", ($schema) => {
    const schema = {
      $schema,
      type: "object",
      properties: { a: { type: "string" } },
      required: ["a"],
      additionalProperties: false,
    };
    expect(() => assertUsableSchema(schema, FORMAT)).not.toThrow();
  });
});
