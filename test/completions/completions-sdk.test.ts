import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeText } from "../../src/backends/mock/tokenizer.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** The legacy Completions API through the official SDK's `client.completions.create`. */

const MODEL = "gpt-3.5-turbo-instruct";
const PROMPT = "Once upon a time, in a harbour town,";

let server: TestServer;
let client: OpenAI;
beforeAll(async () => {
  server = await startTestServer();
  client = server.openai;
});
afterAll(() => server.close({ removeData: true }));

async function complete(
  body: Partial<OpenAI.CompletionCreateParamsNonStreaming>,
): Promise<OpenAI.Completion> {
  const completion = await client.completions.create({ model: MODEL, prompt: PROMPT, ...body });
  expectMatchesComponent("CreateCompletionResponse", completion);
  return completion;
}

async function streamChunks(
  body: Partial<OpenAI.CompletionCreateParamsStreaming>,
): Promise<OpenAI.Completion[]> {
  const stream = await client.completions.create({
    model: MODEL,
    prompt: PROMPT,
    ...body,
    stream: true,
  });
  const chunks: OpenAI.Completion[] = [];
  for await (const chunk of stream) {
    expectMatchesSpecAsChunk(chunk);
    chunks.push(chunk);
  }
  return chunks;
}

/**
 * The spec says chunks share CreateCompletionResponse's shape, but OpenAI sends `finish_reason:
 * null` until a choice's last chunk (its choice schema has no null): checked here, and the rest
 * of the chunk against the spec.
 */
function expectMatchesSpecAsChunk(chunk: OpenAI.Completion): void {
  const choices = chunk.choices.map((choice) => {
    expect([null, "stop", "length", "content_filter"]).toContain(choice.finish_reason);
    return { ...choice, finish_reason: choice.finish_reason ?? "stop" };
  });
  expectMatchesComponent("CreateCompletionResponse", { ...chunk, choices });
}

function streamedText(chunks: readonly OpenAI.Completion[], index = 0): string {
  return chunks
    .flatMap((chunk) => chunk.choices)
    .filter((choice) => choice.index === index)
    .map((choice) => choice.text)
    .join("");
}

function textOf(completion: OpenAI.Completion, index = 0): string {
  return completion.choices.find((choice) => choice.index === index)?.text ?? "";
}

describe("client.completions.create", () => {
  it("returns a text_completion, 16 tokens at most by default, as OpenAI does", async () => {
    const completion = await complete({});
    expect(completion.id).toMatch(/^cmpl-/);
    expect(completion).toMatchObject({ object: "text_completion", model: MODEL });
    expect(completion.choices).toHaveLength(1);
    const [choice] = completion.choices;
    expect(choice?.index).toBe(0);
    expect(choice?.logprobs).toBeNull();
    expect(choice?.text.length).toBeGreaterThan(0);
    const usage = completion.usage;
    expect(usage?.prompt_tokens).toBeGreaterThan(0);
    expect(usage?.completion_tokens).toBeLessThanOrEqual(16);
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
    // The mock's replies are longer than 16 tokens, so the default limit cuts this one.
    expect(choice?.finish_reason).toBe("length");
    expect(usage?.completion_tokens).toBe(16);
  });

  it("answers the same prompt with the same text, and another prompt with another", async () => {
    const first = await complete({ max_tokens: 40 });
    const again = await complete({ max_tokens: 40 });
    const other = await complete({ max_tokens: 40, prompt: "The recipe calls for" });
    expect(again.id).not.toBe(first.id);
    expect(textOf(again)).toBe(textOf(first));
    expect(textOf(other)).not.toBe(textOf(first));
  });

  it("stops at max_tokens with finish_reason length, and runs to stop when allowed", async () => {
    const cut = await complete({ max_tokens: 3 });
    expect(cut.choices[0]?.finish_reason).toBe("length");
    expect(cut.usage?.completion_tokens).toBe(3);
    const whole = await complete({ max_tokens: 2000 });
    expect(whole.choices[0]?.finish_reason).toBe("stop");
    expect(textOf(whole).startsWith(textOf(cut))).toBe(true);
    expect(whole.usage?.completion_tokens).toBeGreaterThan(3);
  });

  it("gives n distinct choices, with completion tokens summed and the prompt counted once", async () => {
    const single = await complete({ max_tokens: 2000 });
    const completion = await complete({ n: 2, max_tokens: 2000 });
    expect(completion.choices.map((choice) => choice.index)).toEqual([0, 1]);
    expect(textOf(completion, 0)).not.toBe(textOf(completion, 1));
    expect(completion.usage?.prompt_tokens).toBe(single.usage?.prompt_tokens);
    const [first, second] = await Promise.all(
      [textOf(completion, 0), textOf(completion, 1)].map((text) => encodeText(text).length),
    );
    expect(completion.usage?.completion_tokens).toBe((first ?? 0) + (second ?? 0));
  });

  it("answers each prompt of an array, n choices each, numbered prompt by prompt", async () => {
    const prompts = [PROMPT, "The recipe calls for"];
    const completion = await complete({ prompt: prompts, n: 2, max_tokens: 20 });
    expect(completion.choices.map((choice) => choice.index)).toEqual([0, 1, 2, 3]);
    const alone = await Promise.all(
      prompts.map((prompt) => complete({ prompt, n: 2, max_tokens: 20 })),
    );
    expect(textOf(completion, 0)).toBe(textOf(alone[0] as OpenAI.Completion, 0));
    expect(textOf(completion, 1)).toBe(textOf(alone[0] as OpenAI.Completion, 1));
    expect(textOf(completion, 2)).toBe(textOf(alone[1] as OpenAI.Completion, 0));
    expect(textOf(completion, 3)).toBe(textOf(alone[1] as OpenAI.Completion, 1));
    // Each prompt is counted once, however many choices it has.
    expect(completion.usage?.prompt_tokens).toBe(
      (alone[0]?.usage?.prompt_tokens ?? 0) + (alone[1]?.usage?.prompt_tokens ?? 0),
    );
  });

  it("takes a prompt as o200k token ids, the same as the text they decode to", async () => {
    const asText = await complete({ max_tokens: 20 });
    const asTokens = await complete({ prompt: encodeText(PROMPT), max_tokens: 20 });
    const asTokenArrays = await complete({ prompt: [encodeText(PROMPT)], max_tokens: 20 });
    expect(textOf(asTokens)).toBe(textOf(asText));
    expect(textOf(asTokenArrays)).toBe(textOf(asText));
  });

  it("puts the prompt before the text with echo", async () => {
    const plain = await complete({ max_tokens: 10 });
    const echoed = await complete({ max_tokens: 10, echo: true });
    expect(textOf(echoed)).toBe(PROMPT + textOf(plain));
    expect(echoed.usage).toEqual(plain.usage);
  });

  it("ends the text before a stop sequence, with finish_reason stop", async () => {
    const whole = textOf(await complete({ max_tokens: 2000 }));
    const words = whole.split(" ").filter((word) => word.length > 3);
    const stop = words[Math.floor(words.length / 2)] as string;
    const cut = await complete({ max_tokens: 2000, stop });
    expect(textOf(cut)).toBe(whole.slice(0, whole.indexOf(stop)));
    expect(cut.choices[0]?.finish_reason).toBe("stop");
    const listed = await complete({ max_tokens: 2000, stop: ["\u0000never", stop] });
    expect(textOf(listed)).toBe(textOf(cut));
  });

  it("streams text_completion chunks that add up to the answer, then [DONE]", async () => {
    const whole = await complete({ max_tokens: 30 });
    const chunks = await streamChunks({ max_tokens: 30 });
    expect(chunks.length).toBeGreaterThan(2);
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(chunks[0]?.id).toMatch(/^cmpl-/);
    expect(streamedText(chunks)).toBe(textOf(whole));
    const last = chunks.at(-1);
    expect(last?.choices[0]?.finish_reason).toBe("length");
    expect(chunks.slice(0, -1).every((chunk) => chunk.choices[0]?.finish_reason === null)).toBe(
      true,
    );
    expect(chunks.every((chunk) => chunk.usage === undefined)).toBe(true);
  });

  it("streams n choices and the echoed prompt, with usage last when include_usage is set", async () => {
    const whole = await complete({ max_tokens: 12, n: 2, echo: true });
    const chunks = await streamChunks({
      max_tokens: 12,
      n: 2,
      echo: true,
      stream_options: { include_usage: true },
    });
    expect(streamedText(chunks, 0)).toBe(textOf(whole, 0));
    expect(streamedText(chunks, 1)).toBe(textOf(whole, 1));
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual(whole.usage);
    const finishes = chunks
      .flatMap((chunk) => chunk.choices)
      .filter((choice) => choice.finish_reason !== null);
    expect(finishes.map((choice) => [choice.index, choice.finish_reason])).toEqual([
      [0, "length"],
      [1, "length"],
    ]);
  });

  it("ends the raw stream with data: [DONE]", async () => {
    const res = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: PROMPT, stream: true, max_tokens: 3 }),
    });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
  });
});

describe("client.completions.create with bad input", () => {
  async function expect400(
    body: Record<string, unknown>,
    param: string | null,
    message: RegExp,
  ): Promise<void> {
    const error = await client.completions
      .create({
        model: MODEL,
        prompt: PROMPT,
        ...body,
      } as OpenAI.CompletionCreateParamsNonStreaming)
      .then(
        () => null,
        (thrown: unknown) => thrown,
      );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const apiError = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(apiError.status).toBe(400);
    expect(apiError.param ?? null).toBe(param);
    expect(apiError.message).toMatch(message);
    expectMatchesComponent("ErrorResponse", { error: apiError.error });
  }

  it("refuses an unknown field, as OpenAI does", async () => {
    await expect400({ prompt_style: "poem" }, "prompt_style", /prompt_style/);
  });

  it("refuses a missing or empty prompt array", async () => {
    await expect400({ prompt: undefined }, "prompt", /prompt/);
    await expect400({ prompt: [] }, "prompt", /empty/);
  });

  it("refuses logprobs above 5 and a negative max_tokens", async () => {
    await expect400({ logprobs: 6 }, "logprobs", /5/);
    await expect400({ max_tokens: -1 }, "max_tokens", /0/);
  });

  it("refuses what ferry cannot honour rather than drop it", async () => {
    await expect400({ suffix: "The end." }, "suffix", /suffix/);
    await expect400({ best_of: 3 }, "best_of", /best_of/);
    await expect400({ best_of: 1, n: 2 }, "best_of", /greater than or equal/);
    await expect400({ echo: true, logprobs: 2 }, "logprobs", /echo/);
  });

  it("refuses stream_options without stream, and too many choices", async () => {
    await expect400({ stream_options: { include_usage: true } }, "stream_options", /stream/);
    await expect400({ prompt: Array(65).fill("x"), n: 2 }, "n", /at most 128/);
  });

  it("refuses token ids outside the vocabulary, naming the id", async () => {
    await expect400({ prompt: [1, 2, 999_999_999] }, "prompt", /999999999/);
  });
});

describe("the openai 7.x SDK", () => {
  it("creates and streams completions the same way", async () => {
    const { default: OpenAI7 } = await import("openai7");
    const client7 = new OpenAI7({ baseURL: `${server.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
    const body = { model: MODEL, prompt: PROMPT, max_tokens: 8, n: 2 };
    const completion = await client7.completions.create(body);
    expectMatchesComponent("CreateCompletionResponse", completion);
    expect(completion).toEqual({
      ...(await complete(body)),
      id: completion.id,
      created: completion.created,
    });
    const stream = await client7.completions.create({ ...body, stream: true });
    let text = "";
    for await (const chunk of stream) {
      text += chunk.choices.find((choice) => choice.index === 1)?.text ?? "";
    }
    expect(text).toBe(completion.choices[1]?.text);
  });
});
