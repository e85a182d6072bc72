import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type Backend,
  BackendError,
  type GenerateRequest,
  type GenerationEvent,
} from "../../src/backends/backend.js";
import { createOpenAICompatibleBackend } from "../../src/backends/openai-compatible.js";
import { loadConfig } from "../../src/config.js";
import { generateRequest } from "../helpers/generate-request.js";
import { createTestContext } from "../helpers/test-app.js";
import { chatChunk, type FakeUpstream, startFakeUpstream } from "../helpers/upstream.js";

let upstream: FakeUpstream;

beforeEach(async () => {
  upstream = await startFakeUpstream();
});
afterEach(async () => {
  await upstream.close();
});

function createBackend(options: { maxResponseBytes?: number; deadlineMs?: number }): Backend {
  return createOpenAICompatibleBackend({
    name: "local-vllm",
    baseUrl: upstream.baseUrl,
    apiKey: null,
    timeoutMs: 5_000,
    ...options,
  });
}

const request: GenerateRequest = generateRequest("Hello", { model: "llama" });
const never = () => new AbortController().signal;

async function drain(events: AsyncIterable<GenerationEvent>): Promise<void> {
  for await (const _event of events) {
    // read to the end
  }
}

async function backendErrorOf(promise: Promise<unknown>): Promise<BackendError> {
  const thrown = await promise.then(
    () => new Error("expected a rejection"),
    (err: unknown) => err,
  );
  expect(thrown).toBeInstanceOf(BackendError);
  return thrown as BackendError;
}

function completion(content: string) {
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "llama",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
  };
}

describe("max_response_bytes", () => {
  it("fails a JSON answer over the cap with a non-retryable 502 naming the cap", async () => {
    upstream.setHandler(() => ({ kind: "json", body: completion("x".repeat(256 * 1024)) }));
    const backend = createBackend({ maxResponseBytes: 64 * 1024 });

    const err = await backendErrorOf(backend.generate(request, never()));

    expect(err).toMatchObject({ status: 502, retryable: false });
    expect(err.message).toBe(
      "Upstream local-vllm sent an answer larger than its max_response_bytes (65536 bytes); ferry stopped reading it there.",
    );
  });

  it("fails a chunked JSON answer over the cap as it arrives, and closes the request", async () => {
    // Chunked transfer: no Content-Length, so only counting the bytes can catch it.
    const piece = `{"pad":"${"x".repeat(16 * 1024)}"}`;
    upstream.setHandler(() => ({
      kind: "sse",
      headers: { "content-type": "application/json" },
      frames: Array.from({ length: 200 }, () => piece),
      end: "hang",
    }));
    const backend = createBackend({ maxResponseBytes: 64 * 1024 });

    const err = await backendErrorOf(backend.generate(request, never()));

    expect(err).toMatchObject({ status: 502, retryable: false });
    expect(err.message).toContain("max_response_bytes (65536 bytes)");
    expect(await upstream.requests[0]?.ended).toBe("closed");
  });

  it("fails a stream whose bytes in all pass the cap, and closes the request", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: Array.from({ length: 200 }, () => chatChunk({ content: "y".repeat(1024) })),
      end: "hang",
    }));
    const backend = createBackend({ maxResponseBytes: 64 * 1024 });

    const err = await backendErrorOf(drain(backend.streamGenerate(request, never())));

    expect(err).toMatchObject({ status: 502, retryable: false });
    expect(err.message).toContain("max_response_bytes (65536 bytes)");
    expect(await upstream.requests[0]?.ended).toBe("closed");
  });

  it("answers a client 502 with the cap in the message, over HTTP", async () => {
    upstream.setHandler(() => ({ kind: "json", body: completion("z".repeat(256 * 1024)) }));
    const t = createTestContext({
      config: {
        backends: [
          {
            type: "openai",
            name: "local-vllm",
            baseUrl: upstream.baseUrl,
            apiKey: null,
            models: ["*"],
            aliases: {},
            maxConcurrency: 4,
            timeoutMs: 5_000,
            headers: {},
            maxResponseBytes: 64 * 1024,
          },
        ],
      },
    });
    try {
      const res = await t.post("/v1/chat/completions", {
        model: "llama",
        messages: [{ role: "user", content: "Hello" }],
      });
      expect(res.status).toBe(502);
      expect(res.headers.get("x-should-retry")).toBe("false");
      const body = (await res.json()) as { error: { message: string; type: string } };
      expect(body.error.type).toBe("server_error");
      expect(body.error.message).toContain("max_response_bytes (65536 bytes)");
      // Not retried: the one request, not max_attempts of them.
      expect(upstream.requests).toHaveLength(1);
    } finally {
      await t.close();
    }
  });
});

describe("deadline_ms", () => {
  it("ends a stream that drips keep-alive comments, with a non-retryable timeout", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      frames: [
        chatChunk({ role: "assistant", content: "Hel" }),
        ...Array.from({ length: 400 }, () => ": keep-alive"),
      ],
      frameDelayMs: 25,
      end: "hang",
    }));
    // Never silent for the 5 s idle timeout, so only the total deadline can end it.
    const backend = createBackend({ deadlineMs: 300 });
    const texts: string[] = [];

    const err = await backendErrorOf(
      (async () => {
        for await (const event of backend.streamGenerate(request, never())) {
          if (event.type === "text.delta") {
            texts.push(event.text);
          }
        }
      })(),
    );

    expect(texts).toEqual(["Hel"]);
    expect(err).toMatchObject({ status: null, retryable: false, code: "timeout" });
    expect(err.message).toBe(
      "Upstream local-vllm did not finish its answer within its deadline_ms (300 ms); ferry stopped the call.",
    );
    expect(await upstream.requests[0]?.ended).toBe("closed");
  });

  it("bounds a sync call whose body drips too", async () => {
    upstream.setHandler(() => ({
      kind: "sse",
      headers: { "content-type": "application/json" },
      frames: Array.from({ length: 400 }, () => " "),
      frameDelayMs: 25,
      end: "hang",
    }));
    const backend = createBackend({ deadlineMs: 300 });

    const err = await backendErrorOf(backend.generate(request, never()));

    expect(err).toMatchObject({ retryable: false, code: "timeout" });
    expect(err.message).toContain("deadline_ms (300 ms)");
  });
});

describe("config", () => {
  it("reads the bounds of each backend from the config file, with defaults", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "ferry-bounds-")), "ferry.json");
    const upstreamBackend = { type: "openai", base_url: "http://127.0.0.1:9/v1", models: ["*"] };
    writeFileSync(
      file,
      JSON.stringify({
        backends: [
          {
            ...upstreamBackend,
            name: "a",
            max_response_bytes: 2048,
            deadline_ms: 5000,
            context_tokens: { "*": 1000, big: 2000 },
          },
          { ...upstreamBackend, name: "b" },
          { type: "mock", name: "m", context_tokens: { "*": 500 } },
        ],
      }),
    );
    const [a, b, m] = loadConfig({ FERRY_CONFIG: file }).backends ?? [];
    expect(a).toMatchObject({
      maxResponseBytes: 2048,
      deadlineMs: 5000,
      contextTokens: { "*": 1000, big: 2000 },
    });
    expect(b).toMatchObject({
      maxResponseBytes: 64 * 1024 * 1024,
      deadlineMs: 1_800_000,
      contextTokens: {},
    });
    expect(m).toMatchObject({ contextTokens: { "*": 500 } });
  });
});
