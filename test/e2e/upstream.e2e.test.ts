import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import type { BackendConfig, ConfigOverrides } from "../../src/config.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { openAIError, startFakeUpstream, type UpstreamHandler } from "../helpers/upstream.js";

/**
 * ferry in front of a real OpenAI-compatible upstream (a local HTTP server of the test's own),
 * driven by the official SDK. Nothing is patched: every call crosses a real socket twice.
 */

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) {
    await thing.close();
  }
});

function upstreamBackend(
  baseUrl: string,
  extra: Partial<Extract<BackendConfig, { type: "openai" }>> = {},
): BackendConfig {
  return {
    type: "openai",
    name: "upstream",
    baseUrl,
    apiKey: "sk-upstream",
    models: ["*"],
    aliases: { "gpt-4o-mini": "local-llama" },
    maxConcurrency: 4,
    timeoutMs: 2_000,
    headers: {},
    ...extra,
  };
}

async function start(
  handler?: UpstreamHandler,
  backend: Partial<Extract<BackendConfig, { type: "openai" }>> = {},
  config: ConfigOverrides = {},
) {
  const upstream = await startFakeUpstream(handler);
  open.push(upstream);
  const server = await startTestServer({
    config: {
      backends: [upstreamBackend(upstream.baseUrl, backend)],
      retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
      ...config,
    },
  });
  open.push({ close: () => server.close({ removeData: true }) });
  return { upstream, server };
}

async function waitForTerminal(server: TestServer, id: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await server.openai.responses.retrieve(id);
    if (!["queued", "in_progress"].includes(response.status ?? "") || Date.now() > deadline) {
      return response;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("an OpenAI-compatible upstream", () => {
  it("answers responses, translated to chat messages, with the alias's upstream model name", async () => {
    const { upstream, server } = await start();
    const response = await server.openai.responses.create({
      model: "gpt-4o-mini",
      instructions: "Be brief.",
      input: "What is a mutex?",
      max_output_tokens: 64,
      temperature: 0.2,
    });
    expect(response.output_text).toBe("Echo: What is a mutex?");
    expect(response.model).toBe("gpt-4o-mini");
    expect(response.usage?.output_tokens).toBeGreaterThan(0);
    const sent = upstream.requests[0];
    expect(sent?.headers.authorization).toBe("Bearer sk-upstream");
    expect(sent?.body).toMatchObject({
      model: "local-llama",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "What is a mutex?" },
      ],
      max_tokens: 64,
      temperature: 0.2,
    });
  });

  it("carries previous turns to the upstream", async () => {
    const { upstream, server } = await start();
    const first = await server.openai.responses.create({ model: "m", input: "one" });
    await server.openai.responses.create({
      model: "m",
      input: "two",
      previous_response_id: first.id,
    });
    expect(upstream.requests[1]?.body).toMatchObject({
      messages: [
        { role: "user", content: "one" },
        { role: "assistant", content: "Echo: one" },
        { role: "user", content: "two" },
      ],
    });
  });

  it("streams the upstream's deltas as Responses events, and chat and embeddings pass through", async () => {
    const { server } = await start();
    const stream = await server.openai.responses.create({
      model: "m",
      input: "stream this please",
      stream: true,
    });
    let text = "";
    for await (const event of stream) {
      if (event.type === "response.output_text.delta") {
        text += event.delta;
      }
    }
    expect(text).toBe("Echo: stream this please");
    const chat = await server.openai.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hey" }],
    });
    expect(chat.choices[0]?.message.content).toBe("Echo: hey");
    const embeddings = await server.openai.embeddings.create({ model: "e", input: ["a", "b"] });
    expect(embeddings.data).toHaveLength(2);
  });

  it("retries a 429 after its Retry-After, then succeeds", async () => {
    let calls = 0;
    const { upstream, server } = await start(() => {
      calls++;
      if (calls === 1) {
        return {
          kind: "json",
          status: 429,
          headers: { "retry-after": "1" },
          body: openAIError("Slow down", { type: "requests", code: "rate_limit_exceeded" }),
        };
      }
      return { kind: "default" };
    });
    const startedAt = Date.now();
    const created = await server.openai.responses.create({
      model: "m",
      input: "patience",
      background: true,
    });
    const done = await waitForTerminal(server, created.id);
    expect(done.status).toBe("completed");
    expect(done.output_text).toBe("Echo: patience");
    expect(upstream.requests).toHaveLength(2);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1_000); // Retry-After: 1 was honoured
  });

  it("fails cleanly after a 500 exhausts the retries", async () => {
    const { upstream, server } = await start(() => ({
      kind: "json",
      status: 500,
      body: openAIError("upstream exploded", { type: "server_error" }),
    }));
    const created = await server.openai.responses.create({
      model: "m",
      input: "x",
      background: true,
    });
    const failed = await waitForTerminal(server, created.id);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatchObject({
      code: "server_error",
      message: expect.stringContaining("upstream exploded"),
    });
    expect(upstream.requests).toHaveLength(3); // max_attempts
    // A sync request gets the final 500 with x-should-retry: false (ferry already retried).
    const sync = server.openai.responses.create({ model: "m", input: "x" });
    await expect(sync).rejects.toBeInstanceOf(OpenAI.InternalServerError);
  });

  it("fails with a timeout when the upstream does not answer in time", async () => {
    const { upstream, server } = await start(() => ({ kind: "hang" }), { timeoutMs: 200 });
    const created = await server.openai.responses.create({
      model: "m",
      input: "x",
      background: true,
    });
    const failed = await waitForTerminal(server, created.id);
    expect(failed.status).toBe("failed");
    expect(failed.error?.message).toMatch(/200 ms/);
    expect(upstream.requests).toHaveLength(3);
    expect(await upstream.requests[0]?.ended).toBe("closed");
  });

  it("fails when the upstream refuses connections, and /health says unreachable", async () => {
    const dead = await startFakeUpstream();
    const deadUrl = dead.baseUrl;
    await dead.close();
    const server = await startTestServer({
      config: {
        backends: [upstreamBackend(deadUrl)],
        retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
      },
    });
    open.push({ close: () => server.close({ removeData: true }) });
    const created = await server.openai.responses.create({
      model: "m",
      input: "x",
      background: true,
    });
    const failed = await waitForTerminal(server, created.id);
    expect(failed.status).toBe("failed");
    expect(failed.error?.message).toMatch(/ECONNREFUSED|reach/i);
    const health = (await (await fetch(`${server.url}/health`)).json()) as {
      backends: { name: string; reachable: boolean }[];
    };
    expect(health.backends).toEqual([
      expect.objectContaining({ name: "upstream", reachable: false }),
    ]);
  });

  it("never has more than max_concurrency calls in flight (4, with 100 queued)", async () => {
    const { upstream, server } = await start(() => ({ kind: "default", delayMs: 40 }), {
      maxConcurrency: 4,
    });
    const created = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        server.openai.responses.create({ model: "m", input: `job ${i}`, background: true }),
      ),
    );
    const done = await Promise.all(
      created.map((response) => waitForTerminal(server, response.id, 30_000)),
    );
    expect(done.every((response) => response.status === "completed")).toBe(true);
    expect(upstream.requests).toHaveLength(100);
    expect(upstream.maxInFlight()).toBeLessThanOrEqual(4);
    expect(upstream.maxInFlight()).toBe(4); // and the limit is actually used
  });

  it("answers a model no backend serves with 404 model_not_found", async () => {
    const { server } = await start(undefined, { models: ["only-this"], aliases: {} });
    const attempt = server.openai.responses.create({ model: "something-else", input: "x" });
    await expect(attempt).rejects.toMatchObject({
      status: 404,
      code: "model_not_found",
      param: "model",
    });
  });
});
