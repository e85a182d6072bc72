import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createJsonMemberCache } from "../../src/lib/json-member-cache.js";
import { splitJsonObjectMembers } from "../../src/lib/json-members.js";
import { jsonTextOf, stringifyReusingTexts } from "../../src/lib/json-text.js";

describe("splitJsonObjectMembers", () => {
  it("finds each top-level member's key and value text", () => {
    const text = ' { "a" : 1 ,"b":"x\\"}y", "c": [ {"d": "]"} ], "e":null}\n';
    const members = splitJsonObjectMembers(text);
    expect(
      members?.map((member) => [member.key, text.slice(member.valueStart, member.end)]),
    ).toEqual([
      ["a", "1"],
      ["b", '"x\\"}y"'],
      ["c", '[ {"d": "]"} ]'],
      ["e", "null"],
    ]);
    expect(text.slice(members?.[1]?.start, members?.[1]?.end)).toBe('"b":"x\\"}y"');
    expect(splitJsonObjectMembers("{}")).toEqual([]);
  });

  it("leaves to the plain parse what it cannot split simply", () => {
    for (const text of [
      "[1]",
      '{"a":1}x',
      '{"a":1,"a":2}',
      '{"\\u0061":1}',
      '{"a":[1}',
      '{"a" 1}',
      '{"a":"unclosed}',
      '\ufeff{"a":1}',
      '{"a":1,}x',
    ]) {
      expect(splitJsonObjectMembers(text), text).toBeNull();
    }
  });

  it("takes a value the caller recognises without scanning it", () => {
    const text = '{"a":{"b":[1,2]},"c":3}';
    const members = splitJsonObjectMembers(text, (key, start) =>
      key === "a" ? start + '{"b":[1,2]}'.length : -1,
    );
    expect(members?.map((member) => member.key)).toEqual(["a", "c"]);
  });
});

const BodySchema = z.strictObject({
  model: z.string(),
  input: z.string().optional(),
  tools: z
    .array(z.strictObject({ name: z.string(), parameters: z.record(z.string(), z.unknown()) }))
    .optional(),
  text: z.strictObject({ format: z.record(z.string(), z.unknown()) }).optional(),
});

// What readJsonBody does with a member cache, without HTTP.
interface Parsed {
  success: boolean;
  data?: { tools?: object[] } & Record<string, unknown>;
  error?: z.ZodError;
}

function parseWith(cache: ReturnType<typeof createJsonMemberCache>, text: string): Parsed {
  const validate = (body: unknown) => BodySchema.safeParse(body);
  const reused = cache.split(text);
  if (reused?.rest != null) {
    const rest = validate(JSON.parse(reused.rest));
    if (!rest.success) {
      return rest;
    }
    reused.remember(rest.data);
    return { success: true as const, data: reused.assemble(rest.data) };
  }
  const whole = validate(JSON.parse(text));
  if (whole.success) {
    reused?.remember(whole.data);
  }
  return whole;
}

function tools(count: number) {
  return Array.from({ length: count }, (_, index) => ({
    parameters: { type: "object", properties: { [`field_${index}`]: { type: "string" } } },
    name: `tool_${index}`,
  }));
}

describe("createJsonMemberCache", () => {
  const newCache = () =>
    createJsonMemberCache({ keys: ["tools", "text"], keyOrder: Object.keys(BodySchema.shape) });

  it("reuses a repeated member's validated value: the same body as a whole parse gives", () => {
    const cache = newCache();
    const body = (input: string) =>
      JSON.stringify({ tools: tools(6), input, model: "m", text: { format: { type: "x" } } });
    const first = parseWith(cache, body("one"));
    const second = parseWith(cache, body("two"));
    expect(second.success).toBe(true);
    expect(second.data).toEqual(BodySchema.parse(JSON.parse(body("two"))));
    // Same key order as zod's, and the very same (shared, frozen) tools.
    expect(Object.keys(second.data ?? {})).toEqual(["model", "input", "tools", "text"]);
    expect(second.data?.tools).toBe(first.data?.tools);
    expect(Object.isFrozen(second.data?.tools?.[0])).toBe(true);
    // Its text is known (in zod's key order, not the body's), and reused when encoding.
    expect(jsonTextOf(second.data?.tools ?? [])).toBe(JSON.stringify(second.data?.tools));
    expect(stringifyReusingTexts(second.data)).toBe(JSON.stringify(second.data));
  });

  it("gives the rest's errors, and keeps nothing from an invalid body", () => {
    const cache = newCache();
    const valid = JSON.stringify({ model: "m", tools: tools(6) });
    parseWith(cache, valid);
    const badModel = JSON.stringify({ model: 1, tools: tools(6) });
    const result = parseWith(cache, badModel);
    expect(result.success).toBe(false);
    expect(result.error?.issues).toEqual(BodySchema.safeParse(JSON.parse(badModel)).error?.issues);

    const badTools = JSON.stringify({ model: "m", tools: [...tools(6), { name: 1 }] });
    expect(parseWith(cache, badTools).success).toBe(false);
    expect(parseWith(cache, badTools).success).toBe(false);
  });

  it("does not take a longer member that starts like a remembered one", () => {
    const cache = newCache();
    const short = tools(6);
    parseWith(cache, JSON.stringify({ model: "m", tools: short }));
    const longer = [...short, ...tools(7).slice(6)];
    const result = parseWith(cache, JSON.stringify({ model: "m", tools: longer }));
    expect(result.data?.tools).toHaveLength(7);
  });

  it("skips small bodies and bodies without the keys", () => {
    const cache = newCache();
    expect(cache.split(JSON.stringify({ model: "m", tools: tools(1) }))).toBeNull();
    expect(cache.split(JSON.stringify({ model: "m", input: "x".repeat(1000) }))).toBeNull();
  });
});
