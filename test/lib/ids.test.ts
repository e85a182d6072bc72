import { describe, expect, it } from "vitest";
import { hasIdPrefix, newId } from "../../src/lib/ids.js";

describe("newId", () => {
  it("is the prefix and 48 hex characters", () => {
    expect(newId("response")).toMatch(/^resp_[0-9a-f]{48}$/);
    expect(newId("batchRequest")).toMatch(/^batch_req_[0-9a-f]{48}$/);
    expect(hasIdPrefix("file", newId("file"))).toBe(true);
  });

  it("starts with the time in milliseconds, so ids sort by creation", () => {
    const before = Date.now();
    const id = newId("message");
    const after = Date.now();
    const ms = Number.parseInt(id.slice("msg_".length, "msg_".length + 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
  });

  it("never repeats, across many refills of the random pool", () => {
    const ids = new Set(Array.from({ length: 20_000 }, () => newId("request")));
    expect(ids.size).toBe(20_000);
  });
});
