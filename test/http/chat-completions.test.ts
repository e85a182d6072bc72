import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, parseSseFrames, type TestContext } from "../helpers/test-app.js";

const MODEL = "gpt-4o-mini";
const MESSAGES = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "How do tides work?" },
];

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

interface ChatCompletion {
  id: string;
  object: string;
  model: string;
  choices: {
    index: number;
    message: { role: string; content: string | null };
    finish_reason: string;
  }[];
  usage: Usage;
}

interface ChatChunk {
  id: string;
  object: string;
  choices: {
    index: number;
    delta: { role?: string; content?: string };
    finish_reason: string | null;
  }[];
  usage?: Usage | null;
}

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

async function complete(body: Record<string, unknown>): Promise<ChatCompletion> {
  const res = await t.post("/v1/chat/completions", { model: MODEL, messages: MESSAGES, ...body });
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const completion = (await res.json()) as ChatCompletion;
  expectMatchesComponent("CreateChatCompletionResponse", completion);
  return completion;
}

/** Streams a completion; returns the raw frames and the parsed chunks (without `[DONE]`). */
async function stream(body: Record<string, unknown>) {
  const res = await t.post("/v1/chat/completions", {
    model: MODEL,
    messages: MESSAGES,
    stream: true,
    ...body,
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const frames = parseSseFrames(text);
  const chunks = frames
    .filter((frame) => frame.data !== "[DONE]")
    .map((frame) => JSON.parse(frame.data) as ChatChunk);
  return { text, frames, chunks };
}

function contentOf(completion: ChatCompletion, index = 0): string {
  return completion.choices[index]?.message.content ?? "";
}

function streamedContent(chunks: ChatChunk[], index = 0): string {
  return chunks
    .flatMap((chunk) => chunk.choices)
    .filter((choice) => choice.index === index)
    .map((choice) => choice.delta.content ?? "")
    .join("");
}

describe("POST /v1/chat/completions", () => {
  it("returns a chat.completion that matches the spec", async () => {
    const completion = await complete({});
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion).toMatchObject({ object: "chat.completion", model: MODEL });
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]).toMatchObject({
      index: 0,
      message: { role: "assistant" },
      finish_reason: "stop",
    });
    expect(contentOf(completion).length).toBeGreaterThan(0);
    const { prompt_tokens, completion_tokens, total_tokens } = completion.usage;
    expect(prompt_tokens).toBeGreaterThan(0);
    expect(completion_tokens).toBeGreaterThan(0);
    expect(total_tokens).toBe(prompt_tokens + completion_tokens);
  });

  it("answers the same messages with the same text", async () => {
    const first = await complete({});
    const again = await complete({});
    const other = await complete({ messages: [{ role: "user", content: "Why is the sky blue?" }] });
    expect(again.id).not.toBe(first.id);
    expect(contentOf(again)).toBe(contentOf(first));
    expect(contentOf(other)).not.toBe(contentOf(first));
  });

  it("stops at max_tokens with finish_reason length", async () => {
    const completion = await complete({ max_tokens: 5 });
    expect(completion.choices[0]?.finish_reason).toBe("length");
    expect(completion.usage.completion_tokens).toBe(5);
    expect(contentOf(await complete({})).startsWith(contentOf(completion))).toBe(true);
  });

  it("lets max_completion_tokens win over max_tokens", async () => {
    const completion = await complete({ max_tokens: 5, max_completion_tokens: 7 });
    expect(completion.choices[0]?.finish_reason).toBe("length");
    expect(completion.usage.completion_tokens).toBe(7);
  });

  it("cuts the answer before a stop sequence, sync and streamed", async () => {
    const full = contentOf(await complete({}));
    const word = full.split(" ")[3] ?? "";
    expect(word.length).toBeGreaterThan(0);
    const cut = await complete({ stop: [` ${word}`] });
    expect(contentOf(cut)).toBe(full.slice(0, full.indexOf(` ${word}`)));
    expect(cut.choices[0]?.finish_reason).toBe("stop");
    const { chunks } = await stream({ stop: ` ${word}` });
    expect(streamedContent(chunks)).toBe(contentOf(cut));
  });

  it("returns n distinct choices and counts the prompt once", async () => {
    const single = await complete({});
    const completion = await complete({ n: 3 });
    expect(completion.choices.map((choice) => choice.index)).toEqual([0, 1, 2]);
    const texts = completion.choices.map((choice) => choice.message.content);
    expect(new Set(texts).size).toBe(3);
    // The first choice is the n=1 answer; the others add their own completion tokens.
    expect(texts[0]).toBe(contentOf(single));
    expect(completion.usage.prompt_tokens).toBe(single.usage.prompt_tokens);
    expect(completion.usage.completion_tokens).toBeGreaterThan(single.usage.completion_tokens);
    expect(completion.usage.total_tokens).toBe(
      completion.usage.prompt_tokens + completion.usage.completion_tokens,
    );
  });

  it("accepts content parts and every message role", async () => {
    const completion = await complete({
      messages: [
        { role: "developer", content: [{ type: "text", text: "Be brief." }] },
        { role: "user", content: [{ type: "text", text: "Name a planet." }] },
        { role: "assistant", content: "Mars." },
        { role: "user", content: "Another one?" },
      ],
    });
    expect(completion.choices[0]?.finish_reason).toBe("stop");
  });

  it("answers metadata.mock_error 429 with a 429, retry-after and rate_limit_exceeded", async () => {
    const res = await t.post("/v1/chat/completions", {
      model: MODEL,
      messages: MESSAGES,
      metadata: { mock_error: "429" },
    });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expectMatchesComponent("ErrorResponse", body);
    expect(body).toMatchObject({ error: { code: "rate_limit_exceeded" } });
  });
});

describe("POST /v1/chat/completions with stream:true", () => {
  it("sends data-only chunks that match the spec and ends with [DONE]", async () => {
    const { text, frames, chunks } = await stream({});
    expect(text).not.toMatch(/^event:/m);
    expect(frames.every((frame) => frame.event === null)).toBe(true);
    expect(frames.at(-1)?.data).toBe("[DONE]");
    expect(frames.filter((frame) => frame.data === "[DONE]")).toHaveLength(1);

    expect(chunks.length).toBeGreaterThan(2);
    const ids = new Set(chunks.map((chunk) => chunk.id));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^chatcmpl-/);
    for (const chunk of chunks) {
      expect(chunk.object).toBe("chat.completion.chunk");
      expectMatchesComponent("CreateChatCompletionStreamResponse", chunk);
    }

    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    const last = chunks.at(-1)?.choices[0];
    expect(last?.finish_reason).toBe("stop");
    expect(last?.delta).toEqual({});
    const earlier = chunks.slice(0, -1).flatMap((chunk) => chunk.choices);
    expect(earlier.every((choice) => choice.finish_reason === null)).toBe(true);
  });

  it("streams the same text the sync answer has", async () => {
    const sync = await complete({});
    const { chunks } = await stream({});
    expect(streamedContent(chunks)).toBe(contentOf(sync));
  });

  it("sends usage in one last chunk with no choices when include_usage is set", async () => {
    const sync = await complete({});
    const { frames, chunks } = await stream({ stream_options: { include_usage: true } });
    expect(frames.at(-1)?.data).toBe("[DONE]");
    const usageChunk = chunks.at(-1);
    expect(usageChunk?.choices).toEqual([]);
    expect(usageChunk?.usage).toMatchObject({
      prompt_tokens: sync.usage.prompt_tokens,
      completion_tokens: sync.usage.completion_tokens,
      total_tokens: sync.usage.total_tokens,
    });
    for (const chunk of chunks.slice(0, -1)) {
      expect(chunk.usage, JSON.stringify(chunk)).toBeNull();
      expect(chunk.choices).toHaveLength(1);
    }
    for (const chunk of chunks) {
      expectMatchesComponent("CreateChatCompletionStreamResponse", chunk);
    }
  });

  it("leaves usage out when include_usage is not set", async () => {
    const { chunks } = await stream({});
    for (const chunk of chunks) {
      expect(chunk.usage ?? null).toBeNull();
      expect(chunk.choices).toHaveLength(1);
    }
  });

  it("ends a cut-off stream with finish_reason length", async () => {
    const sync = await complete({ max_tokens: 5 });
    const { chunks } = await stream({ max_tokens: 5 });
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("length");
    expect(streamedContent(chunks)).toBe(contentOf(sync));
  });

  it("streams every choice of n, each opening with its role and closing with a finish_reason", async () => {
    const sync = await complete({ n: 2 });
    const { chunks } = await stream({ n: 2 });
    for (const index of [0, 1]) {
      const choices = chunks.flatMap((chunk) => chunk.choices).filter((c) => c.index === index);
      expect(choices[0]?.delta.role).toBe("assistant");
      expect(choices.at(-1)?.finish_reason).toBe("stop");
      expect(streamedContent(chunks, index)).toBe(contentOf(sync, index));
    }
  });

  it("answers metadata.mock_error 500 with an HTTP 500 envelope, not a stream", async () => {
    const res = await t.post("/v1/chat/completions", {
      model: MODEL,
      messages: MESSAGES,
      stream: true,
      metadata: { mock_error: "500" },
    });
    const text = await res.text();
    expect(res.status, text).toBe(500);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = JSON.parse(text);
    expectMatchesComponent("ErrorResponse", body);
    expect(body).toMatchObject({ error: { type: "server_error" } });
  });
});
