import { describe, expect, it } from "vitest";
import {
  internIdOf,
  internJsonObject,
  jsonTextOf,
  stringifyReusingTexts,
} from "../../src/lib/json-text.js";

const schema = () => ({
  type: "object",
  properties: { city: { type: "string", enum: ["Paris", "Oslo"] } },
  required: ["city"],
});

describe("internJsonObject", () => {
  it("returns one frozen object for equal texts, with its text and an id", () => {
    const first = internJsonObject(schema());
    const second = internJsonObject(schema());
    expect(second).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.properties.city.enum)).toBe(true);
    expect(jsonTextOf(first)).toBe(JSON.stringify(schema()));
    expect(internIdOf(first)).toBeTypeOf("number");
  });

  it("keeps objects whose text differs (key order too) apart", () => {
    const a = internJsonObject({ type: "object", title: "a" });
    const b = internJsonObject({ title: "a", type: "object" });
    expect(b).not.toBe(a);
    expect(internIdOf(b)).not.toBe(internIdOf(a));
    expect(internIdOf({ type: "object", title: "a" })).toBeUndefined();
  });
});

describe("stringifyReusingTexts", () => {
  it("writes exactly what JSON.stringify writes, around interned objects", () => {
    const parameters = internJsonObject(schema());
    const value = [
      "gpt-4o-mini",
      [{ type: "function", name: "w", description: null, parameters, strict: true }],
      { format: { type: "json_schema", schema: parameters, missing: undefined } },
      [undefined, 1.5, "é\n\u0000"],
    ];
    expect(stringifyReusingTexts(value)).toBe(JSON.stringify(value));
    expect(stringifyReusingTexts(parameters)).toBe(JSON.stringify(parameters));
  });

  it("is still exact when a string or key in the value spells its placeholder", () => {
    const parameters = internJsonObject(schema());
    const placeholder = "\u0000ferry-json-text\u0000";
    const value = { [placeholder]: placeholder, parameters, other: [placeholder] };
    expect(stringifyReusingTexts(value)).toBe(JSON.stringify(value));
  });
});

describe("stringifyReusingTexts two levels down", () => {
  it("splices known texts under a __proto__ key and beside class instances exactly", () => {
    const parameters = internJsonObject({ type: "object", title: "proto" });
    const value = JSON.parse('{"__proto__":{"x":1},"text":{"format":null},"at":null}');
    // JSON.parse made "__proto__" an own key: its value, not the prototype.
    const ownProto = Object.getOwnPropertyDescriptor(value, "__proto__")?.value as Record<
      string,
      unknown
    >;
    ownProto.schema = parameters;
    value.text.format = parameters;
    value.at = new Date(0);
    expect(stringifyReusingTexts(value)).toBe(JSON.stringify(value));
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });
});
