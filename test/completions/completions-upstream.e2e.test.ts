import type OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import type { BackendConfig } from "../../src/config.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { startTestServer } from "../helpers/server.js";
import {
  type RecordedRequest,
  startFakeUpstream,
  type UpstreamReply,
} from "../helpers/upstream.js";

/**
 * `/v1/completions` in front of a real OpenAI-compatible upstream (a node:http server of the
 * test's own): ferry sends the prompt to the upstream's `/completions` and maps its answer back.
 */

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) {
    await thing.close();
  }
});

const LOGPROBS = {
  tokens: [" Paris", "."],
  token_logprobs: [-0.25, -0.5],
  top_logprobs: [
    { " Paris": -0.25, " Lyon": -2 },
    { ".": -0.5, "!": -1.5 },
  ],
  text_offset: [0, 6],
};

/** A legacy completion from the upstream, the text depending on the prompt it was sent. */
function upstreamAnswer(request: RecordedRequest): UpstreamReply {
  const body = request.body as { prompt?: unknown; stream?: boolean };
  const text = body.prompt === "The capital of France is" ? " Paris." : " Something.";
  if (body.stream === true) {
    const chunk = (choice: Record<string, unknown>) => ({
      id: "cmpl-upstream",
      object: "text_completion",
      created: 1,
      model: "local-instruct",
      choices: [choice],
    });
    return {
      kind: "sse",
      frames: [
        chunk({ text: " Paris", index: 0, logprobs: null, finish_reason: null }),
        chunk({ text: ".", index: 0, logprobs: null, finish_reason: null }),
        chunk({ text: "", index: 0, logprobs: null, finish_reason: "stop" }),
        {
          id: "cmpl-upstream",
          object: "text_completion",
          created: 1,
          model: "local-instruct",
          choices: [],
          usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
        },
      ],
    };
  }
  return {
    kind: "json",
    body: {
      id: "cmpl-upstream",
      object: "text_completion",
      created: 1,
      model: "local-instruct",
      choices: [{ text, index: 0, logprobs: LOGPROBS, finish_reason: "length" }],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    },
  };
}

async function start() {
  const upstream = await startFakeUpstream(upstreamAnswer);
  open.push(upstream);
  const backend: BackendConfig = {
    type: "openai",
    name: "upstream",
    baseUrl: upstream.baseUrl,
    apiKey: "sk-upstream",
    models: ["*"],
    aliases: { "gpt-3.5-turbo-instruct": "local-instruct" },
    maxConcurrency: 4,
    timeoutMs: 2_000,
    headers: {},
  };
  const server = await startTestServer({ config: { backends: [backend] } });
  open.push({ close: () => server.close({ removeData: true }) });
  return { upstream, client: server.openai };
}

describe("/v1/completions on an OpenAI-compatible upstream", () => {
  it("sends the prompt and knobs to /completions and maps text, logprobs and usage back", async () => {
    const { upstream, client } = await start();
    const completion = await client.completions.create({
      model: "gpt-3.5-turbo-instruct",
      prompt: "The capital of France is",
      max_tokens: 2,
      stop: ["\n"],
      logprobs: 1,
      temperature: 0,
      seed: 7,
      user: "user-1",
    });
    expectMatchesComponent("CreateCompletionResponse", completion);
    expect(upstream.requests).toHaveLength(1);
    const sent = upstream.requests[0] as RecordedRequest;
    expect(sent.method).toBe("POST");
    expect(sent.path).toBe("/v1/completions");
    expect(sent.headers.authorization).toBe("Bearer sk-upstream");
    expect(sent.body).toMatchObject({
      model: "local-instruct",
      prompt: "The capital of France is",
      max_tokens: 2,
      stop: ["\n"],
      logprobs: 1,
      temperature: 0,
      seed: 7,
      user: "user-1",
    });
    expect(sent.body).not.toHaveProperty("messages");

    expect(completion.id).toMatch(/^cmpl-/);
    expect(completion.model).toBe("gpt-3.5-turbo-instruct");
    expect(completion.choices).toEqual([
      {
        text: " Paris.",
        index: 0,
        finish_reason: "length",
        // At most `logprobs` (1) alternatives, plus the chosen token.
        logprobs: {
          tokens: [" Paris", "."],
          token_logprobs: [-0.25, -0.5],
          top_logprobs: [{ " Paris": -0.25 }, { ".": -0.5 }],
          text_offset: [0, 6],
        },
      },
    ]);
    expect(completion.usage).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
  });

  it("calls the upstream once per prompt and choice, and echoes the prompt itself", async () => {
    const { upstream, client } = await start();
    const completion = await client.completions.create({
      model: "gpt-3.5-turbo-instruct",
      prompt: ["The capital of France is", "Tell me"],
      n: 2,
      echo: true,
    });
    expectMatchesComponent("CreateCompletionResponse", completion);
    expect(
      upstream.requests.map((request) => (request.body as { prompt: string }).prompt).sort(),
    ).toEqual(["Tell me", "Tell me", "The capital of France is", "The capital of France is"]);
    for (const request of upstream.requests) {
      expect(request.path).toBe("/v1/completions");
      // echo is ferry's to do; max_tokens is OpenAI's default of 16, said out loud.
      expect(request.body).not.toHaveProperty("echo");
      expect(request.body).toMatchObject({ max_tokens: 16 });
    }
    expect(completion.choices.map((choice) => choice.text)).toEqual([
      "The capital of France is Paris.",
      "The capital of France is Paris.",
      "Tell me Something.",
      "Tell me Something.",
    ]);
    expect(completion.usage).toEqual({ prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 });
  });

  it("streams the upstream's chunks as text_completion chunks", async () => {
    const { upstream, client } = await start();
    const stream = await client.completions.create({
      model: "gpt-3.5-turbo-instruct",
      prompt: "The capital of France is",
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Completion[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
    }
    expect(upstream.requests[0]?.path).toBe("/v1/completions");
    expect(upstream.requests[0]?.body).toMatchObject({
      stream: true,
      prompt: "The capital of France is",
    });
    const text = chunks
      .flatMap((chunk) => chunk.choices)
      .map((choice) => choice.text)
      .join("");
    expect(text).toBe(" Paris.");
    const finishes = chunks.flatMap((chunk) => chunk.choices).map((choice) => choice.finish_reason);
    expect(finishes.filter((reason) => reason !== null)).toEqual(["stop"]);
    expect(chunks.at(-1)?.usage).toEqual({
      prompt_tokens: 5,
      completion_tokens: 2,
      total_tokens: 7,
    });
  });
});
