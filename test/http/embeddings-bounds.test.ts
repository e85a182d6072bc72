import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { serializeEmbeddingList } from "../../src/services/embeddings.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

interface EmbeddingListBody {
  object: string;
  data: { object: string; index: number; embedding: number[] }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

async function errorOf(res: Response) {
  const body = (await res.json()) as {
    error: { message: string; type: string; param: string | null; code: string | null };
  };
  return body.error;
}

/** About one token per word. */
function words(count: number): string {
  return "lorem ".repeat(count).trim();
}

describe("POST /v1/embeddings limits", () => {
  it("rejects an input over 8,192 tokens with context_length_exceeded", async () => {
    const res = await t.post("/v1/embeddings", {
      model: "text-embedding-3-small",
      input: words(9_000),
    });
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error).toMatchObject({
      type: "invalid_request_error",
      param: "input",
      code: "context_length_exceeded",
    });
    expect(error.message).toMatch(/^This model's maximum context length is 8192 tokens/);
  });

  it("names the input at fault in a list, strings or token arrays", async () => {
    const strings = await t.post("/v1/embeddings", {
      model: "text-embedding-3-small",
      input: ["short", words(9_000)],
    });
    expect(await errorOf(strings)).toMatchObject({ param: "input[1]" });
    const tokens = await t.post("/v1/embeddings", {
      model: "text-embedding-3-small",
      input: [[1, 2, 3], Array.from({ length: 8_193 }, () => 7)],
    });
    expect(tokens.status).toBe(400);
    expect(await errorOf(tokens)).toMatchObject({
      param: "input[1]",
      code: "context_length_exceeded",
    });
  });

  it("rejects more than 300,000 tokens summed over the request", async () => {
    const res = await t.post("/v1/embeddings", {
      model: "text-embedding-3-small",
      input: Array.from({ length: 100 }, () => words(4_000)),
    });
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error).toMatchObject({ param: "input", code: "max_tokens_per_request" });
    expect(error.message).toMatch(/max 300000 tokens per request/);
  });
});

describe("POST /v1/embeddings: a maximal answer", () => {
  it("answers a small request while 2,048 large float vectors are computed and streamed", async () => {
    const inputs = Array.from({ length: 2048 }, (_, index) => `document ${index} of the corpus`);
    const finished: string[] = [];
    let isBigDone = false;
    const big = t
      .post("/v1/embeddings", { model: "text-embedding-3-large", input: inputs })
      .then(async (res) => {
        const text = await res.text();
        finished.push("big");
        isBigDone = true;
        return { status: res.status, text };
      });

    // Wait (on the event loop, as any other client would) until the big one holds the backend.
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      const health = (await (await t.get("/health")).json()) as {
        backends: { in_flight: number }[];
      };
      if (isBigDone || (health.backends[0]?.in_flight ?? 0) > 0) {
        break;
      }
    }
    const small = await t.post("/v1/embeddings", {
      model: "text-embedding-3-large",
      input: inputs[5],
    });
    const smallBody = (await small.json()) as EmbeddingListBody;
    finished.push("small");

    const answered = await big;
    expect(finished).toEqual(["small", "big"]);
    expect(answered.status).toBe(200);
    // The streamed body is the same JSON as the whole object would be.
    const body = JSON.parse(answered.text) as EmbeddingListBody;
    expect(body.object).toBe("list");
    expect(body.model).toBe("text-embedding-3-large");
    expect(body.data).toHaveLength(2048);
    expect(body.data.map((item) => item.index)).toEqual(inputs.map((_, index) => index));
    expect(body.data[2047]?.embedding).toHaveLength(3072);
    expect(body.data[5]?.embedding).toEqual(smallBody.data[0]?.embedding);
    expect(body.usage.prompt_tokens).toBeGreaterThan(2048);
  });
});

describe("serializeEmbeddingList", () => {
  it("writes the list's JSON in slices, never as one string", async () => {
    const vectors = Array.from({ length: 200 }, (_, index) => Float32Array.from([index, 0.5]));
    const chunks: string[] = [];
    for await (const chunk of serializeEmbeddingList({
      model: "m",
      encodingFormat: "base64",
      vectors,
      promptTokens: 7,
    })) {
      chunks.push(chunk);
    }
    expect(chunks.length).toBeGreaterThan(3);
    expect(JSON.parse(chunks.join(""))).toEqual({
      object: "list",
      data: vectors.map((vector, index) => ({
        object: "embedding",
        index,
        embedding: Buffer.from(vector.buffer).toString("base64"),
      })),
      model: "m",
      usage: { prompt_tokens: 7, total_tokens: 7 },
    });
  });
});
