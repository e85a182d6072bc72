import { describe, expect, it } from "vitest";
import { createMockBackend } from "../../src/backends/mock/mock-backend.js";
import { compileJsonSchema } from "../../src/lib/json-schema-validator.js";
import { generateRequest } from "../helpers/generate-request.js";

/**
 * A client's `pattern` runs in linear time: with V8's backtracking engine, `^(a+)+$` against
 * 40 letters and a mismatch takes minutes, and the mock checks every value it writes against
 * the client's patterns.
 */
describe("JSON Schema patterns", () => {
  it("match a catastrophic-backtracking pattern in linear time", () => {
    const validate = compileJsonSchema({ type: "string", pattern: "^(a+)+$" });
    const started = performance.now();
    expect(validate(`${"a".repeat(5_000)}b`)).toBe(false);
    expect(validate("a".repeat(5_000))).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("keep JavaScript semantics RE2 lacks (lookahead), and match anywhere", () => {
    expect(compileJsonSchema({ type: "string", pattern: "^(?=.*\\d)[a-z\\d]+$" })("abc1")).toBe(
      true,
    );
    expect(compileJsonSchema({ type: "string", pattern: "^(?=.*\\d)[a-z\\d]+$" })("abc")).toBe(
      false,
    );
    expect(compileJsonSchema({ type: "string", pattern: "b+" })("abbbc")).toBe(true);
    expect(compileJsonSchema({ type: "string", pattern: "^\\p{L}+$" })("Éclair")).toBe(true);
  });

  it("are told apart: each schema checks its own pattern", () => {
    const digits = compileJsonSchema({ type: "string", pattern: "^[0-9]+$" });
    const letters = compileJsonSchema({ type: "string", pattern: "^[a-z]+$" });
    expect([digits("123"), digits("abc"), letters("abc"), letters("123")]).toEqual([
      true,
      false,
      true,
      false,
    ]);
  });

  it("do not stall the mock on contradictory patterns (the red team's 46 s request)", async () => {
    const mock = createMockBackend({ ttftMs: 0, tokensPerSecond: 0 });
    const schema = {
      type: "object",
      properties: {
        s: {
          allOf: [
            { type: "string", pattern: "^(a+)+$" },
            { type: "string", pattern: "^a{28}b$" },
          ],
        },
      },
      required: ["s"],
    };
    const started = performance.now();
    const outcome = await mock
      .generate(
        generateRequest("hi", {
          outputFormat: {
            type: "json_schema",
            name: "x",
            schema,
            strict: false,
            description: null,
          },
        }),
        new AbortController().signal,
      )
      .then(
        () => "answered",
        (err: { status?: number }) => err.status,
      );
    expect(outcome).toBe(400);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
