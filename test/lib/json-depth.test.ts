import { describe, expect, it } from "vitest";
import { isJsonNestedDeeperThan, isValueNestedDeeperThan } from "../../src/lib/json-depth.js";

function nested(depth: number): string {
  return `${"[".repeat(depth)}1${"]".repeat(depth)}`;
}

describe("isValueNestedDeeperThan", () => {
  it("agrees with the text scan on every depth around the limit", () => {
    for (const text of [
      nested(3),
      nested(4),
      '{"a":{"b":[{"c":1}]}}',
      '{"a":"[[[[[[","b":[]}',
      '[{}, [[]], {"x": {"y": {}}}]',
    ]) {
      for (const limit of [1, 2, 3, 4, 5]) {
        expect(isValueNestedDeeperThan(JSON.parse(text), limit)).toBe(
          isJsonNestedDeeperThan(text, limit),
        );
      }
    }
  });

  it("answers for a value nested far deeper than the stack could recurse", () => {
    let deep: unknown = 1;
    for (let level = 0; level < 200_000; level++) {
      deep = { inner: [deep] };
    }
    expect(isValueNestedDeeperThan(deep, 100)).toBe(true);
    expect(isValueNestedDeeperThan("text", 0)).toBe(false);
  });
});
