/**
 * The real OctoAI TypeScript client (`@octoai/client` 0.5.2) against ferry over HTTP: futures
 * (`inferAsync` → `isFutureReady` → `getFutureResult`) on the four inference endpoints, a failed
 * future, `healthCheck`, the synchronous `completions.create`, and the edge cases of the
 * `X-OctoAI-Async` header, tenancy and scopes.
 */
import { Client, OctoAIClientError, OctoAIServerError } from "@octoai/client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseApiKeysVariable } from "../../src/config.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const ALPHA = "sk-octoai-alpha-0123456789";
const ALPHA_READER = "sk-octoai-alpha-reader-0123456789";
const BETA = "sk-octoai-beta-0123456789";
const MODEL = "gpt-4o-mini";

type Future = Awaited<ReturnType<Client["inferAsync"]>>;

let s: TestServer;
let alpha: Client;
let beta: Client;
beforeAll(async () => {
  s = await startTestServer({
    config: {
      apiKeys: parseApiKeysVariable(
        `${ALPHA}@alpha,${ALPHA_READER}@alpha=responses:read,${BETA}@beta`,
      ),
      // A failing request is retried once, quickly, before its future fails.
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5, overloadMaxAttempts: 2 },
    },
  });
  alpha = new Client(ALPHA);
  beta = new Client(BETA);
});
afterAll(async () => {
  await s.close({ removeData: true });
});

/** isFutureReady until true, as an OctoAI user writes it; bounded so a stuck future fails. */
async function waitUntilReady(client: Client, future: Future): Promise<void> {
  await vi.waitFor(
    async () => {
      expect(await client.isFutureReady(future)).toBe(true);
    },
    { timeout: 30_000, interval: 20 },
  );
}

/** The poll answer, read as the client reads it (GET poll_url with its headers). */
async function poll(future: Future, key = ALPHA): Promise<Record<string, unknown>> {
  const res = await fetch(future.poll_url, { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe("@octoai/client futures against ferry", () => {
  it("inferAsync on chat completions → isFutureReady → getFutureResult is the chat completion", async () => {
    const future = await alpha.inferAsync(`${s.url}/v1/chat/completions`, {
      model: MODEL,
      messages: [{ role: "user", content: "Say hello to the future." }],
    });
    expect(future.response_id).toMatch(/^fut_/);
    expect(future.poll_url).toBe(`${s.url}/v1/futures/${future.response_id}`);
    await waitUntilReady(alpha, future);
    const polled = await poll(future);
    expect(polled).toMatchObject({
      status: "completed",
      response_url: `${future.poll_url}/result`,
      error: null,
    });
    expect((polled.expires_at as number) - (polled.created_at as number)).toBe(24 * 3600);
    const result = (await alpha.getFutureResult(future)) as Record<string, unknown>;
    expect(result).toMatchObject({ object: "chat.completion", model: MODEL });
    const choices = result.choices as { message: { role: string; content: string } }[];
    expect(choices[0]?.message.role).toBe("assistant");
    expect(choices[0]?.message.content.length).toBeGreaterThan(0);
  });

  it("answers 202 with the future at once, pending or running until it ran", async () => {
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${ALPHA}`,
        "content-type": "application/json",
        "x-octoai-async": "1",
      },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: "user", content: "slowly" }],
        metadata: { mock_delay_ms: "300" },
      }),
    });
    expect(res.status).toBe(202);
    const future = (await res.json()) as Future & Record<string, unknown>;
    expect(future).toMatchObject({ object: "future", status: "pending", response_url: null });
    const early = await poll(future);
    expect(["pending", "running"]).toContain(early.status);
    expect(await alpha.isFutureReady(future)).toBe(false);
    await expect(alpha.getFutureResult(future)).rejects.toThrow(OctoAIClientError);
    await waitUntilReady(alpha, future);
  });

  it("futures of /v1/completions, /v1/embeddings and /v1/responses answer their endpoint's body", async () => {
    const completion = await alpha.inferAsync(`${s.url}/v1/completions`, {
      model: MODEL,
      prompt: "Once upon a time",
      max_tokens: 8,
    });
    const embedding = await alpha.inferAsync(`${s.url}/v1/embeddings`, {
      model: "text-embedding-3-small",
      input: ["one", "two"],
    });
    const response = await alpha.inferAsync(`${s.url}/v1/responses`, {
      model: MODEL,
      input: "A response, later.",
    });
    for (const future of [completion, embedding, response]) {
      await waitUntilReady(alpha, future);
    }
    expect(await alpha.getFutureResult(completion)).toMatchObject({ object: "text_completion" });
    const list = (await alpha.getFutureResult(embedding)) as {
      object: string;
      data: { embedding: number[] }[];
    };
    expect(list.object).toBe("list");
    expect(list.data).toHaveLength(2);
    expect(list.data[0]?.embedding.length).toBeGreaterThan(0);
    const answered = (await alpha.getFutureResult(response)) as Record<string, unknown>;
    expect(answered).toMatchObject({ object: "response", status: "completed", store: false });
    expect(answered.id).toMatch(/^resp_/);
  });

  it("a request that fails after its retries gives a failed future with OpenAI's error", async () => {
    const future = await alpha.inferAsync(`${s.url}/v1/chat/completions`, {
      model: MODEL,
      messages: [{ role: "user", content: "fail, please" }],
      metadata: { mock_error: "500" },
    });
    let polled: Record<string, unknown> = {};
    await vi.waitFor(
      async () => {
        polled = await poll(future);
        expect(polled.status).toBe("failed");
      },
      { timeout: 30_000, interval: 20 },
    );
    expect(polled.error).toMatchObject({
      message: expect.any(String),
      type: expect.any(String),
      param: null,
    });
    expect(await alpha.isFutureReady(future)).toBe(false);
    // The client asks for the result only once the poll said "completed" (a 425 otherwise).
    await expect(alpha.getFutureResult(future)).rejects.toThrow(OctoAIClientError);
    // The response_url answers what the synchronous call would have: the error status and body.
    const res = await fetch(String(polled.response_url), {
      headers: { authorization: `Bearer ${ALPHA}` },
    });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: polled.error });
    // As the synchronous call fails: the client raises a server error for the same request.
    await expect(
      alpha.infer(`${s.url}/v1/chat/completions`, {
        model: MODEL,
        messages: [{ role: "user", content: "fail, please" }],
        metadata: { mock_error: "500" },
      }),
    ).rejects.toThrow(OctoAIServerError);
  });

  it("a bad body is a 400 at once, not a failed future", async () => {
    const thrown = await alpha
      .inferAsync(`${s.url}/v1/chat/completions`, { model: MODEL })
      .catch((err: unknown) => err);
    expect(thrown).toBeInstanceOf(OctoAIClientError);
    expect(String(thrown)).toContain("400");
    expect(String(thrown)).toContain("messages");
    // A check the service makes past the schema (at most 128 choices): refused at once too.
    const tooMany = await alpha
      .inferAsync(`${s.url}/v1/completions`, { model: MODEL, prompt: ["a", "b"], n: 100 })
      .catch((err: unknown) => err);
    expect(tooMany).toBeInstanceOf(OctoAIClientError);
    expect(String(tooMany)).toContain("400");
    expect(String(tooMany)).toContain('"param":"n"');
  });

  it("refuses stream with a future, and any X-OctoAI-Async but 1, 0 or empty", async () => {
    const post = (header: string, body: Record<string, unknown>) =>
      fetch(`${s.url}/v1/chat/completions`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${ALPHA}`,
          "content-type": "application/json",
          "x-octoai-async": header,
        },
        body: JSON.stringify({
          model: MODEL,
          messages: [{ role: "user", content: "hi" }],
          ...body,
        }),
      });
    const streamed = await post("1", { stream: true });
    expect(streamed.status).toBe(400);
    expect(await streamed.json()).toMatchObject({ error: { param: "stream" } });
    const wrong = await post("yes", {});
    expect(wrong.status).toBe(400);
    expect(JSON.stringify(await wrong.json())).toContain("X-OctoAI-Async");
    const off = await post("0", {});
    expect(off.status).toBe(200);
    expect(await off.json()).toMatchObject({ object: "chat.completion" });
  });

  it("another project's future is 404 to its poll and its result", async () => {
    const future = await alpha.inferAsync(`${s.url}/v1/chat/completions`, {
      model: MODEL,
      messages: [{ role: "user", content: "mine" }],
    });
    await waitUntilReady(alpha, future);
    const thrown = await beta.isFutureReady(future).catch((err: unknown) => err);
    expect(thrown).toBeInstanceOf(OctoAIClientError);
    expect(String(thrown)).toContain("404");
    const result = await fetch(`${future.poll_url}/result`, {
      headers: { authorization: `Bearer ${BETA}` },
    });
    expect(result.status).toBe(404);
    expect(await result.json()).toMatchObject({ error: { type: "invalid_request_error" } });
  });

  it("needs the endpoint's scope to create a future and responses:read to poll it", async () => {
    const reader = new Client(ALPHA_READER);
    const refused = await reader
      .inferAsync(`${s.url}/v1/chat/completions`, {
        model: MODEL,
        messages: [{ role: "user", content: "hi" }],
      })
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OctoAIClientError);
    expect(String(refused)).toContain("403");
    const future = await alpha.inferAsync(`${s.url}/v1/chat/completions`, {
      model: MODEL,
      messages: [{ role: "user", content: "readable" }],
    });
    await waitUntilReady(reader, future);
    expect(await reader.getFutureResult(future)).toMatchObject({ object: "chat.completion" });
    const anonymous = await fetch(future.poll_url);
    expect(anonymous.status).toBe(401);
  });

  it("completions.create against /v1/completions answers synchronously", async () => {
    const completion = (await alpha.completions.create(
      { model: MODEL, prompt: "The quick brown fox", max_tokens: 5 },
      `${s.url}/v1/completions`,
    )) as unknown as Record<string, unknown>;
    expect(completion).toMatchObject({ object: "text_completion", model: MODEL });
    expect((completion.choices as unknown[]).length).toBe(1);
  });

  it("healthCheck on /health is 200", async () => {
    expect(await alpha.healthCheck(`${s.url}/health`, 10_000, 50)).toBe(200);
  });
});

describe("@octoai/client without a token, against an open server", () => {
  let open: TestServer;
  beforeAll(async () => {
    open = await startTestServer();
  });
  afterAll(async () => {
    await open.close({ removeData: true });
  });

  it("sends Authorization: '' and X-OctoAI-Async: '' and gets a synchronous answer or a future", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const previous = process.env.OCTOAI_TOKEN;
    delete process.env.OCTOAI_TOKEN;
    try {
      const client = new Client();
      const sync = (await client.infer(`${open.url}/v1/chat/completions`, {
        model: MODEL,
        messages: [{ role: "user", content: "now" }],
      })) as Record<string, unknown>;
      expect(sync.object).toBe("chat.completion");
      const future = await client.inferAsync(`${open.url}/v1/embeddings`, {
        model: "text-embedding-3-small",
        input: "later",
      });
      await waitUntilReady(client, future);
      expect(await client.getFutureResult(future)).toMatchObject({ object: "list" });
    } finally {
      if (previous !== undefined) {
        process.env.OCTOAI_TOKEN = previous;
      }
      warn.mockRestore();
    }
  });
});
