import { describe, expect, it } from "vitest";
import type { GenerateRequest } from "../../src/backends/backend.js";
import { createLruCache } from "../../src/backends/mock/lru-cache.js";
import { createMockBackend } from "../../src/backends/mock/mock-backend.js";
import { outputText } from "../../src/backends/model-contract.js";
import { generateRequest, streamedText as textOf } from "../helpers/generate-request.js";

const signal = new AbortController().signal;

function request(content: string, maxOutputTokens: number | null = null): GenerateRequest {
  return generateRequest(content, { maxOutputTokens });
}

function streamedText(backend: ReturnType<typeof createMockBackend>, req: GenerateRequest) {
  return textOf(backend.streamGenerate(req, signal));
}

describe("mock backend", () => {
  it("answers a repeated conversation the same way (cached) as a fresh backend does", async () => {
    const warm = createMockBackend({ ttftMs: 0, tokensPerSecond: 0 });
    const req = request("Why is the sky blue? Über große Städte 東京");
    const first = await warm.generate(req, signal);
    const again = await warm.generate(req, signal);
    const fresh = await createMockBackend({ ttftMs: 0, tokensPerSecond: 0 }).generate(req, signal);
    expect(again).toEqual(first);
    expect(fresh).toEqual(first);
    expect(await streamedText(warm, req)).toBe(outputText(first));
  });

  it("cuts at max_output_tokens the same way whether or not the reply is cached", async () => {
    const backend = createMockBackend({ ttftMs: 0, tokensPerSecond: 0 });
    const full = await backend.generate(request("How long should I boil an egg?"), signal);
    const cut = await backend.generate(request("How long should I boil an egg?", 5), signal);
    expect(cut.finishReason).toBe("length");
    expect(cut.usage.outputTokens).toBe(5);
    expect(outputText(full).startsWith(outputText(cut))).toBe(true);
    expect(await streamedText(backend, request("How long should I boil an egg?", 5))).toBe(
      outputText(cut),
    );
  });
});

describe("createLruCache", () => {
  it("forgets the least recently used entry first", () => {
    const cache = createLruCache<string, number>(2);
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1);
    cache.set("c", 3);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(1);
    expect(cache.get("c")).toBe(3);
  });

  it("never evicts an entry read within the last half of its capacity in writes", () => {
    const cache = createLruCache<number, number>(100);
    for (let key = 0; key < 100; key++) {
      cache.set(key, key);
    }
    // Key 0 is the oldest and key 80 fairly new; both are read, then 100 more keys arrive in
    // steps, each read again within 50 writes.
    for (let next = 100; next < 200; next += 25) {
      expect(cache.get(0)).toBe(0);
      expect(cache.get(80)).toBe(80);
      for (let key = next; key < next + 25; key++) {
        cache.set(key, key);
      }
    }
    expect(cache.get(0)).toBe(0);
    expect(cache.get(80)).toBe(80);
    // The entries never read went, oldest first: 100 slots hold 0, 80 and the newest 98.
    expect(cache.get(1)).toBeUndefined();
    expect(cache.get(101)).toBeUndefined();
    expect(cache.get(199)).toBe(199);
  });
});
