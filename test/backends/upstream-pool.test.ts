import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type Backend,
  BackendError,
  type GenerateRequest,
  type GenerationEvent,
} from "../../src/backends/backend.js";
import { memoizeRequestText } from "../../src/backends/openai-compatible/request-text.js";
import { createOpenAICompatibleBackend } from "../../src/backends/openai-compatible.js";
import { createOpenAIResponsesBackend } from "../../src/backends/openai-responses.js";
import { generateRequest } from "../helpers/generate-request.js";
import { chatChunk, type FakeUpstream, startFakeUpstream } from "../helpers/upstream.js";

/**
 * The upstream backends' connection pool: keep-alive connections, no more than the backend's
 * concurrency, given back after every kind of call (answered, failed, aborted, timed out, over
 * the cap) so the next call can use the pool, and closed with the backend.
 */

let upstream: FakeUpstream;
const backends: Backend[] = [];

beforeEach(async () => {
  upstream = await startFakeUpstream();
});
afterEach(async () => {
  await Promise.all(backends.splice(0).map((backend) => backend.close?.()));
  await upstream.close();
});

function createBackend(
  options: { maxConnections?: number; timeoutMs?: number; maxResponseBytes?: number } = {},
): Backend {
  const backend = createOpenAICompatibleBackend({
    name: "local-vllm",
    baseUrl: upstream.baseUrl,
    apiKey: null,
    timeoutMs: options.timeoutMs ?? 5_000,
    ...options,
  });
  backends.push(backend);
  return backend;
}

const request: GenerateRequest = generateRequest("Hello", { model: "llama" });
const never = () => new AbortController().signal;

async function drain(events: AsyncIterable<GenerationEvent>): Promise<void> {
  for await (const _event of events) {
    // read to the end
  }
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error("expected a rejection"),
    (err: unknown) => err,
  );
}

describe("connection pool", () => {
  it("makes 1,000 sequential calls over kept-alive connections, no more than maxConnections", async () => {
    const backend = createBackend({ maxConnections: 4 });

    for (let call = 0; call < 1_000; call++) {
      await backend.generate(request, never());
    }

    expect(upstream.requests).toHaveLength(1_000);
    // The pool may open a second connection for a call made the moment the last one ended,
    // before its connection is marked free again; never one per call.
    expect(upstream.connectionsAccepted()).toBeLessThanOrEqual(4);
  });

  it("makes every call over the one connection a backend of concurrency 1 has", async () => {
    const backend = createBackend({ maxConnections: 1 });

    for (let call = 0; call < 200; call++) {
      await backend.generate(request, never());
      await drain(backend.streamGenerate(request, never()));
    }

    expect(upstream.requests).toHaveLength(400);
    expect(upstream.connectionsAccepted()).toBe(1);
  });

  it("keeps concurrent calls within maxConnections sockets, streams included", async () => {
    upstream.setHandler((recorded) =>
      (recorded.body as { stream?: boolean }).stream === true
        ? {
            kind: "sse",
            frames: [chatChunk({ content: "Hi" }), chatChunk({ finishReason: "stop" })],
          }
        : { kind: "default", delayMs: 5 },
    );
    const backend = createBackend({ maxConnections: 8 });

    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 64 }, (_, index) =>
          index % 2 === 0
            ? backend.generate(request, never())
            : drain(backend.streamGenerate(request, never())),
        ),
      );
    }

    expect(upstream.requests).toHaveLength(320);
    expect(upstream.maxInFlight()).toBeLessThanOrEqual(8);
    expect(upstream.connectionsAccepted()).toBeLessThanOrEqual(8);
  });

  it("closes the connection of an aborted call, and the next call still gets one", async () => {
    upstream.setHandler(() => ({ kind: "hang" }));
    const backend = createBackend({ maxConnections: 1 });
    const controller = new AbortController();
    const pending = backend.generate(request, controller.signal);
    await upstream.waitForRequests(1);

    controller.abort();
    const thrown = await rejectionOf(pending);

    expect(thrown).toBe(controller.signal.reason);
    expect(await upstream.requests[0]?.ended).toBe("closed");
    upstream.setHandler(() => ({ kind: "default" }));
    await expect(backend.generate(request, never())).resolves.toMatchObject({
      finishReason: "stop",
    });
  });

  it("closes the connection of a timed-out call, and the next call still gets one", async () => {
    upstream.setHandler(() => ({ kind: "hang" }));
    const backend = createBackend({ maxConnections: 1, timeoutMs: 200 });

    const thrown = await rejectionOf(backend.generate(request, never()));

    expect(thrown).toBeInstanceOf(BackendError);
    expect(thrown).toMatchObject({ code: "timeout", retryable: true });
    expect(await upstream.requests[0]?.ended).toBe("closed");
    upstream.setHandler(() => ({ kind: "default" }));
    await expect(backend.generate(request, never())).resolves.toMatchObject({
      finishReason: "stop",
    });
  });

  it("fails an answer over the cap with the 502, and the next call still gets a connection", async () => {
    const backend = createBackend({ maxConnections: 1, maxResponseBytes: 1_024 });
    upstream.setHandler(() => ({
      kind: "json",
      body: { choices: [{ message: { content: "x".repeat(4_096) } }] },
    }));

    const thrown = await rejectionOf(backend.generate(request, never()));

    expect(thrown).toBeInstanceOf(BackendError);
    expect(thrown).toMatchObject({ status: 502, retryable: false });
    expect((thrown as Error).message).toContain("max_response_bytes (1024 bytes)");
    upstream.setHandler(() => ({ kind: "default" }));
    await expect(backend.generate(request, never())).resolves.toMatchObject({
      finishReason: "stop",
    });
  });

  it("gives back the connection of an error answer it read whole", async () => {
    const backend = createBackend({ maxConnections: 1 });
    upstream.setHandler(() => ({
      kind: "json",
      status: 400,
      body: { error: { message: "bad", type: "invalid_request_error" } },
    }));
    await expect(backend.generate(request, never())).rejects.toMatchObject({ status: 400 });
    upstream.setHandler(() => ({ kind: "default" }));

    await backend.generate(request, never());

    expect(upstream.connectionsAccepted()).toBe(1);
  });

  it("fails a redirect with a 502 naming where it points, since the pool follows none", async () => {
    const backend = createBackend({ maxConnections: 1 });
    upstream.setHandler(() => ({
      kind: "text",
      status: 307,
      headers: { location: "https://llm.example/v1/chat/completions" },
      body: "moved",
    }));

    const thrown = await rejectionOf(backend.generate(request, never()));

    expect(thrown).toBeInstanceOf(BackendError);
    expect(thrown).toMatchObject({ status: 502, retryable: false });
    expect((thrown as Error).message).toBe(
      "Upstream local-vllm answered HTTP 307, a redirect to https://llm.example/v1/chat/completions; " +
        "ferry does not follow redirects: set the backend's base_url to where the upstream answers.",
    );
  });

  it("closes its connections when the backend is closed", async () => {
    const chat = createBackend({ maxConnections: 4 });
    const native = createOpenAIResponsesBackend({
      name: "native",
      baseUrl: upstream.baseUrl,
      apiKey: null,
      timeoutMs: 5_000,
      maxConnections: 4,
    });
    await chat.generate(request, never());
    // The native backend embeds over its own pool, which close() closes too.
    await native.embed({ model: "embed", inputs: ["a"], dimensions: null }, never());
    expect(upstream.openConnections()).toBe(2);

    await Promise.all([chat.close?.(), native.close?.()]);

    await expect.poll(() => upstream.openConnections(), { timeout: 5_000 }).toBe(0);
  });
});

describe("request text", () => {
  it("serialises a request's body once, however often the same request is sent", () => {
    let builds = 0;
    const textOf = memoizeRequestText((body: { model: string }) => {
      builds += 1;
      return { model: body.model, stream: false };
    });
    const first = { model: "llama" };

    expect(textOf(first)).toBe('{"model":"llama","stream":false}');
    expect(textOf(first)).toBe('{"model":"llama","stream":false}');
    expect(builds).toBe(1);
    expect(textOf({ model: "other" })).toBe('{"model":"other","stream":false}');
    expect(builds).toBe(2);
  });
});
