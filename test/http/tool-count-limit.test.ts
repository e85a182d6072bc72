import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

/** OpenAI takes at most 128 tools per request; ferry answers more with a 400 naming `tools`. */

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

const parameters = { type: "object", properties: { city: { type: "string" } } };

describe("the number of tools", () => {
  it("is at most 128 on /v1/responses", async () => {
    const tools = (count: number) =>
      Array.from({ length: count }, (_, index) => ({
        type: "function",
        name: `f${index}`,
        parameters,
      }));
    const ok = await t.post("/v1/responses", {
      model: "gpt-4o-mini",
      input: "hi",
      tools: tools(128),
    });
    expect(ok.status, await ok.clone().text()).toBe(200);

    const res = await t.post("/v1/responses", {
      model: "gpt-4o-mini",
      input: "hi",
      tools: tools(129),
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { param: string; message: string } };
    expect(error.param).toBe("tools");
    expect(error.message).toMatch(/128/);
  });

  it("is at most 128 on /v1/chat/completions", async () => {
    const tools = (count: number) =>
      Array.from({ length: count }, (_, index) => ({
        type: "function",
        function: { name: `f${index}`, parameters },
      }));
    const messages = [{ role: "user", content: "hi" }];
    const ok = await t.post("/v1/chat/completions", {
      model: "gpt-4o-mini",
      messages,
      tools: tools(128),
    });
    expect(ok.status, await ok.clone().text()).toBe(200);

    const res = await t.post("/v1/chat/completions", {
      model: "gpt-4o-mini",
      messages,
      tools: tools(129),
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { param: string; message: string } };
    expect(error.param).toBe("tools");
    expect(error.message).toMatch(/128/);
  });
});
