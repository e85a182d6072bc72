import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** `logprobs: k` on the mock, sync and streamed, in the legacy object's shape. */

const MODEL = "gpt-3.5-turbo-instruct";
const PROMPT = "Write about the sea";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close({ removeData: true }));

type Logprobs = NonNullable<OpenAI.CompletionChoice["logprobs"]>;

describe("logprobs on /v1/completions", () => {
  it("gives one entry per token, at most k alternatives plus the chosen token", async () => {
    const completion = await server.openai.completions.create({
      model: MODEL,
      prompt: PROMPT,
      logprobs: 3,
      max_tokens: 12,
    });
    expectMatchesComponent("CreateCompletionResponse", completion);
    const choice = completion.choices[0] as OpenAI.CompletionChoice;
    const logprobs = choice.logprobs as Logprobs;
    const tokens = logprobs.tokens ?? [];
    expect(tokens).toHaveLength(12);
    expect(tokens.join("")).toBe(choice.text);
    expect(logprobs.token_logprobs).toHaveLength(12);
    let offset = 0;
    for (const [index, token] of tokens.entries()) {
      expect(logprobs.text_offset?.[index]).toBe(offset);
      offset += token.length;
      const top = logprobs.top_logprobs?.[index] ?? {};
      expect(Object.keys(top).length).toBeLessThanOrEqual(4);
      expect(top[token]).toBe(logprobs.token_logprobs?.[index]);
      for (const value of [...Object.values(top), logprobs.token_logprobs?.[index] ?? 1]) {
        expect(value).toBeLessThanOrEqual(0);
      }
    }
  });

  it("with logprobs 0, keeps only the chosen token; without logprobs, null", async () => {
    const zero = await server.openai.completions.create({
      model: MODEL,
      prompt: PROMPT,
      logprobs: 0,
      max_tokens: 5,
    });
    const logprobs = zero.choices[0]?.logprobs as Logprobs;
    expect(logprobs.top_logprobs?.map((top) => Object.keys(top))).toEqual(
      logprobs.tokens?.map((token) => [token]),
    );
    const none = await server.openai.completions.create({ model: MODEL, prompt: PROMPT });
    expect(none.choices[0]?.logprobs).toBeNull();
  });

  it("streams the same logprobs, with offsets into the whole text", async () => {
    const body = { model: MODEL, prompt: PROMPT, logprobs: 2, max_tokens: 10 };
    const whole = await server.openai.completions.create(body);
    const stream = await server.openai.completions.create({ ...body, stream: true });
    const merged: Required<Logprobs> = {
      tokens: [],
      token_logprobs: [],
      top_logprobs: [],
      text_offset: [],
    };
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        if (choice.logprobs !== null) {
          merged.tokens.push(...(choice.logprobs.tokens ?? []));
          merged.token_logprobs.push(...(choice.logprobs.token_logprobs ?? []));
          merged.top_logprobs.push(...(choice.logprobs.top_logprobs ?? []));
          merged.text_offset.push(...(choice.logprobs.text_offset ?? []));
        }
      }
    }
    expect(merged).toEqual(whole.choices[0]?.logprobs);
  });
});
