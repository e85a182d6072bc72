import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type Backend,
  BackendError,
  type GenerateRequest,
  type GenerationEvent,
} from "../../src/backends/backend.js";
import { textGeneration } from "../../src/backends/generation-events.js";
import { DEFAULT_SAMPLING, outputText } from "../../src/backends/model-contract.js";
import { createOpenAICompatibleBackend } from "../../src/backends/openai-compatible.js";
import { generateRequest } from "../helpers/generate-request.js";
import {
  chatChunk,
  encodeFloat32Base64,
  type FakeUpstream,
  openAIError,
  startFakeUpstream,
} from "../helpers/upstream.js";

let upstream: FakeUpstream;
let backend: Backend;

beforeEach(async () => {
  upstream = await startFakeUpstream();
  backend = createBackend(upstream.baseUrl);
});
afterEach(async () => {
  await upstream.close();
});

function createBackend(baseUrl: string, timeoutMs = 5_000): Backend {
  return createOpenAICompatibleBackend({
    name: "local-vllm",
    baseUrl,
    apiKey: "sk-upstream",
    timeoutMs,
  });
}

function chatRequest(overrides: Partial<GenerateRequest> = {}): GenerateRequest {
  return generateRequest("Hello there", {
    model: "llama-3.1-8b",
    messages: [
      { role: "developer", content: text("Be brief.") },
      { role: "user", content: text("Hello there") },
    ],
    maxOutputTokens: 64,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0.2 },
    ...overrides,
  });
}

function text(value: string) {
  return [{ type: "text" as const, text: value }];
}

const never = () => new AbortController().signal;

async function collect(events: AsyncIterable<GenerationEvent>): Promise<GenerationEvent[]> {
  const seen: GenerationEvent[] = [];
  for await (const event of events) {
    seen.push(event);
  }
  return seen;
}

/** The rejection of `promise`, failing the test if it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (thrown) {
    return thrown;
  }
  throw new Error("expected a rejection");
}

async function backendErrorOf(promise: Promise<unknown>): Promise<BackendError> {
  const thrown = await rejectionOf(promise);
  expect(thrown).toBeInstanceOf(BackendError);
  return thrown as BackendError;
}

/** A port nothing listens on: bound, then released. */
async function deadPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("generate", () => {
  it("answers with the upstream's text, finish reason and usage", async () => {
    const generation = await backend.generate(chatRequest(), never());

    expect(generation).toEqual(
      textGeneration("Echo: Hello there", "stop", {
        inputTokens: 4,
        outputTokens: 3,
        cachedInputTokens: 0,
        reasoningTokens: 0,
      }),
    );
  });

  it("sends the model, translated messages, limits and the key", async () => {
    await backend.generate(chatRequest(), never());

    const [request] = upstream.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/v1/chat/completions");
    expect(request?.headers.authorization).toBe("Bearer sk-upstream");
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.headers.accept).toBe("application/json");
    expect(request?.body).toEqual({
      model: "llama-3.1-8b",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hello there" },
      ],
      max_tokens: 64,
      temperature: 0.2,
      stream: false,
    });
  });

  it("translates tool calls and tool results, and leaves out unset limits", async () => {
    await backend.generate(
      chatRequest({
        messages: [
          { role: "user", content: text("Weather?") },
          {
            role: "assistant",
            content: [],
            toolCalls: [{ id: "call_1", name: "weather", arguments: '{"city":"Oslo"}' }],
          },
          { role: "tool", content: text("rain"), toolCallId: "call_1" },
        ],
        maxOutputTokens: null,
        sampling: { ...DEFAULT_SAMPLING, topP: 0.9 },
      }),
      never(),
    );

    expect(upstream.requests[0]?.body).toEqual({
      model: "llama-3.1-8b",
      messages: [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            {
              id: "call_1",
              type: "function",
              function: { name: "weather", arguments: '{"city":"Oslo"}' },
            },
          ],
        },
        { role: "tool", tool_call_id: "call_1", content: "rain" },
      ],
      top_p: 0.9,
      stream: false,
    });
  });

  it("tolerates a trailing slash, no key and extra headers", async () => {
    const keyless = createOpenAICompatibleBackend({
      name: "ollama",
      baseUrl: `${upstream.baseUrl}/`,
      apiKey: null,
      timeoutMs: 5_000,
      headers: { "x-tenant": "t1" },
    });

    await keyless.generate(chatRequest(), never());

    const [request] = upstream.requests;
    expect(request?.path).toBe("/v1/chat/completions");
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.headers["x-tenant"]).toBe("t1");
  });

  it("reports finish_reason length when max_tokens cut the answer", async () => {
    const generation = await backend.generate(chatRequest({ maxOutputTokens: 2 }), never());

    expect(outputText(generation)).toBe("Echo: Hello");
    expect(generation.finishReason).toBe("length");
  });

  it("reads cached and reasoning tokens, and falls back to zeros without usage", async () => {
    const completion = (usage: unknown) => ({
      choices: [
        { index: 0, message: { role: "assistant", content: null }, finish_reason: "tool_calls" },
      ],
      ...(usage === undefined ? {} : { usage }),
    });
    upstream.setHandler(() => ({
      kind: "json",
      body: completion({
        prompt_tokens: 10,
        completion_tokens: 5,
        prompt_tokens_details: { cached_tokens: 8 },
        completion_tokens_details: { reasoning_tokens: 2 },
      }),
    }));
    expect(await backend.generate(chatRequest(), never())).toMatchObject({
      finishReason: "stop",
      usage: { inputTokens: 10, outputTokens: 5, cachedInputTokens: 8, reasoningTokens: 2 },
    });

    upstream.setHandler(() => ({ kind: "json", body: completion(undefined) }));
    expect((await backend.generate(chatRequest(), never())).usage).toEqual({
      inputTokens: 0,
      outputTokens: 0,
      cachedInputTokens: 0,
      reasoningTokens: 0,
    });
  });
});

describe("streamGenerate", () => {
  it("yields deltas that join to the answer, then one done with usage", async () => {
    const events = await collect(backend.streamGenerate(chatRequest(), never()));

    const deltas = events.filter((event) => event.type === "text.delta");
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((event) => event.text).join("")).toBe("Echo: Hello there");
    expect(events.at(-1)).toMatchObject({
      type: "done",
      generation: {
        finishReason: "stop",
        usage: { inputTokens: 4, outputTokens: 3, cachedInputTokens: 0, reasoningTokens: 0 },
      },
    });
    expect(events.filter((event) => event.type === "done")).toHaveLength(1);
    const [request] = upstream.requests;
    expect(request?.headers.accept).toBe("text/event-stream");
    expect(request?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it("reports finish_reason length", async () => {
    const events = await collect(
      backend.streamGenerate(chatRequest({ maxOutputTokens: 1 }), never()),
    );

    expect(events).toEqual([
      { type: "item.start", index: 0, item: { type: "message" } },
      { type: "text.delta", index: 0, text: "Echo:" },
      {
        type: "done",
        generation: textGeneration("Echo:", "length", {
          inputTokens: 4,
          outputTokens: 1,
          cachedInputTokens: 0,
          reasoningTokens: 0,
        }),
      },
    ]);
  });

  it("ends at the end of the body when a finish_reason came without [DONE]", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [chatChunk({ content: "Hi" }), chatChunk({ finishReason: "stop" })],
      end: "eof",
    }));

    const events = await collect(backend.streamGenerate(chatRequest(), never()));

    expect(events.map((event) => event.type)).toEqual(["item.start", "text.delta", "done"]);
  });

  it("throws a BackendError on a mid-stream error frame", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [
        chatChunk({ content: "Hel" }),
        chatChunk({ content: "lo" }),
        openAIError("The model crashed.", { type: "server_error", code: "engine_error" }),
      ],
      end: "eof",
    }));
    const seen: GenerationEvent[] = [];

    const err = await backendErrorOf(
      (async () => {
        for await (const event of backend.streamGenerate(chatRequest(), never())) {
          seen.push(event);
        }
      })(),
    );

    expect(seen).toEqual([
      { type: "item.start", index: 0, item: { type: "message" } },
      { type: "text.delta", index: 0, text: "Hel" },
      { type: "text.delta", index: 0, text: "lo" },
    ]);
    expect(err).toMatchObject({
      message: "The model crashed.",
      status: null,
      retryable: false,
      type: "server_error",
      code: "engine_error",
    });
  });

  it("throws a retryable BackendError when the body ends early", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [chatChunk({ content: "Hel" })],
      end: "eof",
    }));

    const err = await backendErrorOf(collect(backend.streamGenerate(chatRequest(), never())));

    expect(err.retryable).toBe(true);
    expect(err.status).toBeNull();
    expect(err.message).toContain("closed the stream early");
  });

  it("throws a retryable BackendError when the connection drops mid-stream", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [chatChunk({ content: "Hel" })],
      end: "destroy",
    }));

    const err = await backendErrorOf(collect(backend.streamGenerate(chatRequest(), never())));

    expect(err.retryable).toBe(true);
    expect(err.status).toBeNull();
    expect(err.message).toContain("local-vllm");
  });

  it("throws a 502 on a frame that is not JSON", async () => {
    upstream.setHandler(() => ({ kind: "sse", frames: ["{not json"] }));

    const err = await backendErrorOf(collect(backend.streamGenerate(chatRequest(), never())));

    expect(err).toMatchObject({ status: 502, retryable: true });
  });

  it("throws the HTTP error before any event", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      status: 429,
      headers: { "retry-after": "1" },
      body: openAIError("Slow down.", { type: "rate_limit_error", code: "rate_limit_exceeded" }),
    }));

    const err = await backendErrorOf(collect(backend.streamGenerate(chatRequest(), never())));

    expect(err).toMatchObject({ status: 429, retryable: true, retryAfterMs: 1000 });
  });

  it("closes the upstream request when the consumer stops early", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [chatChunk({ content: "Hel" })],
      end: "hang",
    }));

    for await (const event of backend.streamGenerate(chatRequest(), never())) {
      expect(event).toEqual({ type: "item.start", index: 0, item: { type: "message" } });
      break;
    }

    expect(await upstream.requests[0]?.ended).toBe("closed");
  });
});

describe("errors", () => {
  it("maps a 429 with Retry-After in seconds", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      status: 429,
      headers: { "retry-after": "2" },
      body: openAIError("Rate limit reached.", { type: "requests", code: "rate_limit_exceeded" }),
    }));

    const err = await backendErrorOf(backend.generate(chatRequest(), never()));

    expect(err).toMatchObject({
      message: "Rate limit reached.",
      status: 429,
      retryable: true,
      retryAfterMs: 2000,
      type: "requests",
      code: "rate_limit_exceeded",
    });
  });

  it("prefers retry-after-ms", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      status: 429,
      headers: { "retry-after": "2", "retry-after-ms": "150" },
      body: openAIError("Rate limit reached."),
    }));

    const err = await backendErrorOf(backend.generate(chatRequest(), never()));

    expect(err.retryAfterMs).toBe(150);
  });

  it("reads Retry-After as an HTTP date", async () => {
    const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
    upstream.setHandler(() => ({
      kind: "json",
      status: 503,
      headers: { "retry-after": inTenSeconds },
      body: openAIError("Overloaded."),
    }));

    const err = await backendErrorOf(backend.generate(chatRequest(), never()));

    // The header has whole seconds, so up to 1 s is lost to rounding.
    expect(err.retryAfterMs).toBeGreaterThan(8_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(10_000);
  });

  it("makes a 500 without an envelope retryable, quoting the body", async () => {
    upstream.setHandler(() => ({ kind: "text", status: 500, body: "upstream exploded" }));

    const err = await backendErrorOf(backend.generate(chatRequest(), never()));

    expect(err).toMatchObject({
      message: "Upstream local-vllm answered HTTP 500: upstream exploded",
      status: 500,
      retryable: true,
      retryAfterMs: null,
      type: "server_error",
      code: null,
    });
  });

  it("carries a 400's envelope and does not retry it", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      status: 400,
      body: openAIError("max_tokens is too large.", { code: "invalid_value", param: "max_tokens" }),
    }));

    const err = await backendErrorOf(backend.generate(chatRequest(), never()));

    expect(err).toMatchObject({
      message: "max_tokens is too large.",
      status: 400,
      retryable: false,
      type: "invalid_request_error",
      code: "invalid_value",
      param: "max_tokens",
    });
  });

  it("reads the error shapes of servers that are not OpenAI", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      status: 404,
      body: {
        object: "error",
        message: "The model `x` does not exist.",
        type: "NotFoundError",
        code: 404,
      },
    }));
    const vllm = await backendErrorOf(backend.generate(chatRequest(), never()));
    expect(vllm).toMatchObject({
      message: "The model `x` does not exist.",
      status: 404,
      type: "invalid_request_error",
      code: null,
    });

    upstream.setHandler(() => ({
      kind: "json",
      status: 404,
      body: { error: "model 'x' not found" },
    }));
    const ollama = await backendErrorOf(backend.generate(chatRequest(), never()));
    expect(ollama.message).toBe("model 'x' not found");
  });

  it("honours x-should-retry: false on a 503", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      status: 503,
      headers: { "x-should-retry": "false" },
      body: openAIError("Model is being unloaded.", { type: "server_error" }),
    }));

    const err = await backendErrorOf(backend.generate(chatRequest(), never()));

    expect(err).toMatchObject({ status: 503, retryable: false });
  });

  it("honours x-should-retry: true on a 400", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      status: 400,
      headers: { "x-should-retry": "true" },
      body: openAIError("Try again."),
    }));

    const err = await backendErrorOf(backend.generate(chatRequest(), never()));

    expect(err).toMatchObject({ status: 400, retryable: true });
  });

  it("reads at most 64 KiB of an error body", async () => {
    upstream.setHandler(() => ({ kind: "text", status: 502, body: "x".repeat(1024 * 1024) }));

    const err = await backendErrorOf(backend.generate(chatRequest(), never()));

    expect(err.status).toBe(502);
    expect(err.message).toBe(`Upstream local-vllm answered HTTP 502: ${"x".repeat(200)}`);
  });

  it("times out, retryably, and closes the upstream request", async () => {
    upstream.setHandler(() => ({ kind: "default", delayMs: 2_000 }));
    const impatient = createBackend(upstream.baseUrl, 200);

    const err = await backendErrorOf(impatient.generate(chatRequest(), never()));

    expect(err).toMatchObject({
      message: "Upstream local-vllm did not answer within 200 ms",
      status: null,
      retryable: true,
      code: "timeout",
    });
    expect(await upstream.requests[0]?.ended).toBe("closed");
  });

  it("times out a stream that goes silent", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [chatChunk({ content: "Hel" })],
      end: "hang",
    }));
    const impatient = createBackend(upstream.baseUrl, 200);

    const err = await backendErrorOf(collect(impatient.streamGenerate(chatRequest(), never())));

    expect(err).toMatchObject({ status: null, retryable: true, code: "timeout" });
    expect(await upstream.requests[0]?.ended).toBe("closed");
  });

  it("names the upstream when the connection is refused", async () => {
    const baseUrl = `http://127.0.0.1:${await deadPort()}/v1`;
    const unreachable = createBackend(baseUrl);

    const err = await backendErrorOf(unreachable.generate(chatRequest(), never()));

    expect(err.status).toBeNull();
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(
      /^Cannot reach upstream local-vllm at http:\/\/127\.0\.0\.1:\d+\/v1: /,
    );
    expect(err.message).toContain("ECONNREFUSED");
  });

  it("rethrows the caller's abort, not a BackendError, and closes the upstream request", async () => {
    upstream.setHandler(() => ({ kind: "hang" }));
    const controller = new AbortController();
    const pending = backend.generate(chatRequest(), controller.signal);
    await upstream.waitForRequests(1);

    controller.abort();
    const thrown = await rejectionOf(pending);

    expect(thrown).not.toBeInstanceOf(BackendError);
    expect((thrown as Error).name).toBe("AbortError");
    expect(thrown).toBe(controller.signal.reason);
    expect(await upstream.requests[0]?.ended).toBe("closed");
  });

  it("rethrows the caller's abort mid-stream", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [chatChunk({ content: "Hel" })],
      end: "hang",
    }));
    const controller = new AbortController();
    const reason = new DOMException("client went away", "AbortError");

    const thrown = await rejectionOf(
      (async () => {
        for await (const event of backend.streamGenerate(chatRequest(), controller.signal)) {
          if (event.type === "text.delta") {
            controller.abort(reason);
          }
        }
      })(),
    );

    expect(thrown).toBe(reason);
    expect(await upstream.requests[0]?.ended).toBe("closed");
  });

  it("makes a 200 with a body that is not JSON a retryable 502", async () => {
    upstream.setHandler(() => ({ kind: "text", body: "<html>proxy says hi</html>" }));

    const err = await backendErrorOf(backend.generate(chatRequest(), never()));

    expect(err).toMatchObject({ status: 502, retryable: true });
    expect(err.message).toBe(
      "Upstream local-vllm sent an answer that is not an OpenAI chat completion: not JSON: <html>proxy says hi</html>",
    );
  });

  it("makes a 200 with the wrong JSON shape a retryable 502", async () => {
    upstream.setHandler(() => ({ kind: "json", body: { choices: "none" } }));

    const err = await backendErrorOf(backend.generate(chatRequest(), never()));

    expect(err).toMatchObject({ status: 502, retryable: true });
    expect(err.message).toContain("choices");
  });
});

describe("embed", () => {
  it("sends the inputs and dimensions and returns float vectors", async () => {
    const result = await backend.embed(
      { model: "nomic-embed-text", inputs: ["one two", [1, 2, 3]], dimensions: 2 },
      never(),
    );

    expect(upstream.requests[0]?.path).toBe("/v1/embeddings");
    expect(upstream.requests[0]?.body).toEqual({
      model: "nomic-embed-text",
      input: ["one two", [1, 2, 3]],
      encoding_format: "float",
      dimensions: 2,
    });
    expect(result.vectors).toEqual([new Float32Array([0, 0.125]), new Float32Array([1, 1.125])]);
    expect(result.promptTokens).toBe(5);
  });

  it("orders vectors by index and decodes base64 embeddings", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      body: {
        object: "list",
        data: [
          { object: "embedding", index: 1, embedding: encodeFloat32Base64([0.5, -2]) },
          { object: "embedding", index: 0, embedding: [0.25, 4] },
        ],
      },
    }));

    const result = await backend.embed(
      { model: "nomic-embed-text", inputs: ["a", "b"], dimensions: null },
      never(),
    );

    expect(upstream.requests[0]?.body).not.toHaveProperty("dimensions");
    expect(result.vectors).toEqual([new Float32Array([0.25, 4]), new Float32Array([0.5, -2])]);
    expect(result.promptTokens).toBe(0);
  });

  it("rejects an answer with the wrong number of vectors as a 502", async () => {
    upstream.setHandler(() => ({
      kind: "json",
      body: { object: "list", data: [{ object: "embedding", index: 0, embedding: [1] }] },
    }));

    const err = await backendErrorOf(
      backend.embed({ model: "m", inputs: ["a", "b"], dimensions: null }, never()),
    );

    expect(err).toMatchObject({ status: 502, retryable: true });
    expect(err.message).toContain("1 embeddings for 2 inputs");
  });
});

describe("the fake upstream", () => {
  it("counts requests in flight and lists models", async () => {
    upstream.setHandler(() => ({ kind: "hang" }));
    const controller = new AbortController();
    const pending = [1, 2].map((_) =>
      rejectionOf(backend.generate(chatRequest(), controller.signal)),
    );
    await upstream.waitForRequests(2);

    expect(upstream.inFlight()).toBe(2);
    controller.abort();
    await Promise.all(pending);
    await Promise.all(upstream.requests.map((request) => request.ended));
    expect(upstream.inFlight()).toBe(0);
    expect(upstream.maxInFlight()).toBe(2);

    upstream.setHandler(() => ({ kind: "default" }));
    const models = await fetch(`${upstream.baseUrl}/models`);
    expect(await models.json()).toMatchObject({ object: "list", data: [{ id: "fake-model" }] });
  });
});
