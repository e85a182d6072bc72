import { afterEach, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

let t: TestContext;
afterEach(() => t.close());

/** About one token per word. */
function words(count: number): string {
  return "lorem ".repeat(count).trim();
}

describe("/v1/completions and the context window", () => {
  it("answers OpenAI's 400 context_length_exceeded for any prompt past the window", async () => {
    t = createTestContext({
      config: {
        backends: [
          {
            type: "mock",
            name: "mock",
            models: ["*"],
            aliases: {},
            maxConcurrency: 8,
            ttftMs: null,
            tokensPerSecond: null,
            contextTokens: { "*": 100 },
          },
        ],
      },
    });
    const fits = await t.post("/v1/completions", { model: "instruct", prompt: words(50) });
    expect(fits.status, await fits.clone().text()).toBe(200);

    for (const prompt of [words(150), ["short", words(150)]]) {
      const res = await t.post("/v1/completions", { model: "instruct", prompt });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: Record<string, unknown> };
      expect(error).toMatchObject({
        type: "invalid_request_error",
        param: "prompt",
        code: "context_length_exceeded",
      });
      expect(error.message).toMatch(/maximum context length is 100 tokens/);
    }
  });
});
