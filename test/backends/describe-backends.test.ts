import { describe, expect, it } from "vitest";
import { describeBackends } from "../../src/backends/describe-backends.js";

describe("describeBackends", () => {
  it("says the mock serves every model when no backends are configured", () => {
    expect(describeBackends(null)).toEqual(["mock (all models)"]);
  });

  it("names each configured backend, its upstream and its models, without credentials", () => {
    const lines = describeBackends([
      {
        type: "openai",
        name: "vllm",
        baseUrl: "http://user:s3cret@127.0.0.1:8001/v1",
        apiKey: "sk-upstream-key",
        models: ["llama-3.1-8b"],
        aliases: { "gpt-4o-mini": "llama-3.1-8b" },
        maxConcurrency: 8,
        timeoutMs: 1000,
        headers: {},
      },
      {
        type: "mock",
        name: "fallback",
        models: ["*"],
        aliases: {},
        maxConcurrency: 4,
        ttftMs: null,
        tokensPerSecond: null,
      },
    ]);
    expect(lines).toEqual([
      "vllm: openai at http://127.0.0.1:8001/v1 (llama-3.1-8b, gpt-4o-mini -> llama-3.1-8b)",
      "fallback: mock (all models)",
    ]);
    expect(lines.join(" ")).not.toMatch(/s3cret|sk-upstream-key|user/);
  });
});
