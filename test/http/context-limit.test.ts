import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_CONTEXT_TOKENS } from "../../src/backends/call-bounds.js";
import { countTextTokens, countTextTokensUpTo } from "../../src/backends/mock/tokenizer.js";
import { responses, workItems } from "../../src/store/schema.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

let t: TestContext | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** The mock serving every model, with small context windows to reach them cheaply. */
function withWindows(contextTokens: Record<string, number>): TestContext {
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
          contextTokens,
        },
      ],
    },
  });
  return t;
}

/** About one token per word. */
function words(count: number): string {
  return "lorem ".repeat(count).trim();
}

async function errorOf(res: Response) {
  const body = (await res.json()) as {
    error: { message: string; type: string; param: string | null; code: string | null };
  };
  return body.error;
}

describe("context windows", () => {
  it("answers OpenAI's 400 context_length_exceeded for a response input past the window", async () => {
    const t = withWindows({ "*": 2_000, "gpt-small": 100 });

    const fits = await t.post("/v1/responses", { model: "gpt-small", input: words(50) });
    expect(fits.status, await fits.clone().text()).toBe(200);

    const res = await t.post("/v1/responses", { model: "gpt-small", input: words(300) });
    expect(res.status).toBe(400);
    expect(res.headers.get("x-should-retry")).toBe("false");
    const error = await errorOf(res);
    expect(error).toMatchObject({
      type: "invalid_request_error",
      param: "input",
      code: "context_length_exceeded",
    });
    expect(error.message).toMatch(
      /^This model's maximum context length is 100 tokens\. However, your messages resulted in at least \d+ tokens\. Please reduce the length of the messages\.$/,
    );
    // Another model keeps its own window.
    const other = await t.post("/v1/responses", { model: "gpt-other", input: words(300) });
    expect(other.status).toBe(200);
  });

  it("settles a far-too-long input from its length alone", async () => {
    const t = withWindows({ "*": 100 });
    // 128 characters per token at most: 100,000 characters are at least 782 tokens, plus 6
    // framing the message.
    const res = await t.post("/v1/responses", { model: "m", input: "x".repeat(100_000) });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toContain("resulted in at least 788 tokens");
  });

  it("applies to chat completions, with param messages", async () => {
    const t = withWindows({ "*": 100 });
    const res = await t.post("/v1/chat/completions", {
      model: "m",
      messages: [{ role: "user", content: words(300) }],
    });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({
      param: "messages",
      code: "context_length_exceeded",
    });
  });

  it("has a default window for every model", async () => {
    t = createTestContext();
    const res = await t.post("/v1/responses", {
      model: "gpt-4o-mini",
      input: words(DEFAULT_CONTEXT_TOKENS + 1_000),
    });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toContain(
      `maximum context length is ${DEFAULT_CONTEXT_TOKENS} tokens`,
    );
  });

  it("answers the 400 for a previous_response_id chain past the window before any work", async () => {
    const t = withWindows({ "*": 2_000 });
    const first = await t.post("/v1/responses", { model: "m", input: words(1_200) });
    expect(first.status, await first.clone().text()).toBe(200);
    const { id } = (await first.json()) as { id: string };

    // Each turn fits alone; the chain does not.
    const res = await t.post("/v1/responses", {
      model: "m",
      input: words(1_200),
      previous_response_id: id,
      background: true,
    });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ param: "input", code: "context_length_exceeded" });
    // Nothing was stored or queued for it.
    expect(
      t.db
        .select()
        .from(responses)
        .all()
        .map((row) => row.id),
    ).toEqual([id]);
    expect(t.db.select().from(workItems).all()).toHaveLength(0);

    // A short follow-up still fits.
    const next = await t.post("/v1/responses", {
      model: "m",
      input: "And then?",
      previous_response_id: id,
    });
    expect(next.status, await next.clone().text()).toBe(200);
  });
});

describe("token counting", () => {
  it("counts a megabyte of spaces (one BPE piece) in slices rather than forever", () => {
    const tokens = countTextTokens(" ".repeat(1_000_000));
    // No token is longer than 128 characters.
    expect(tokens).toBeGreaterThanOrEqual(1_000_000 / 128);
  });

  it("stops counting soon after the limit, however long the text", () => {
    const text = words(2_000_000);
    const counted = countTextTokensUpTo(text, 1_000);
    expect(counted).toBeGreaterThan(1_000);
    // One slice (64 Ki characters, ~11,000 words) past the limit at most.
    expect(counted).toBeLessThan(1_000 + 20_000);
    expect(countTextTokensUpTo(words(500), 1_000)).toBe(countTextTokens(words(500)));
  });
});
