import { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** OpenAI's batch workflow with the official SDK: upload, create, poll, download, list, cancel. */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close({ removeData: true });
});

const BODIES = {
  "/v1/chat/completions": (i: number) => ({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: `question ${i}` }],
  }),
  "/v1/responses": (i: number) => ({ model: "gpt-4o-mini", input: `question ${i}` }),
  "/v1/embeddings": (i: number) => ({ model: "text-embedding-3-small", input: `text ${i}` }),
} as const;

const SHAPES = {
  "/v1/chat/completions": "CreateChatCompletionResponse",
  "/v1/responses": "Response",
  "/v1/embeddings": "CreateEmbeddingResponse",
} as const;

async function waitForBatch(id: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await s.openai.batches.retrieve(id);
    if (
      ["completed", "failed", "expired", "cancelled"].includes(batch.status) ||
      Date.now() > deadline
    ) {
      return batch;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("batches with the SDK", () => {
  for (const endpoint of Object.keys(BODIES) as (keyof typeof BODIES)[]) {
    it(`runs a ${endpoint} batch from upload to the parsed output file`, async () => {
      const lines = Array.from({ length: 20 }, (_, i) =>
        JSON.stringify({
          custom_id: `req-${i}`,
          method: "POST",
          url: endpoint,
          body: BODIES[endpoint](i),
        }),
      );
      const file = await s.openai.files.create({
        file: await toFile(Buffer.from(lines.join("\n")), "batch.jsonl"),
        purpose: "batch",
      });
      expect(file.purpose).toBe("batch");
      const batch = await s.openai.batches.create({
        input_file_id: file.id,
        endpoint,
        completion_window: "24h",
      });
      expect(batch.status).toBe("validating");
      const done = await waitForBatch(batch.id);
      expect(done.status).toBe("completed");
      expect(done.request_counts).toEqual({ total: 20, completed: 20, failed: 0 });
      expectMatchesComponent("Batch", done);
      const content = await (await s.openai.files.content(done.output_file_id ?? "")).text();
      const output = content
        .trim()
        .split("\n")
        .map(
          (line) =>
            JSON.parse(line) as {
              custom_id: string;
              response: { status_code: number; body: unknown };
            },
        );
      expect(output.map((line) => line.custom_id).sort()).toEqual(
        lines.map((_, i) => `req-${i}`).sort(),
      );
      for (const line of output) {
        expect(line.response.status_code).toBe(200);
        expectMatchesComponent(SHAPES[endpoint], line.response.body);
      }
    });
  }

  it("lists batches with auto-pagination, newest first", async () => {
    const seen: string[] = [];
    for await (const batch of s.openai.batches.list({ limit: 1 })) {
      seen.push(batch.id);
    }
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(new Set(seen).size).toBe(seen.length);
    const listed = await s.openai.batches.list({ limit: 100 });
    expect(listed.data.map((batch) => batch.id)).toEqual(seen);
  });

  it("cancels a running batch and reports ConflictError for a finished one", async () => {
    const lines = Array.from({ length: 5 }, (_, i) =>
      JSON.stringify({
        custom_id: `slow-${i}`,
        method: "POST",
        url: "/v1/chat/completions",
        body: { ...BODIES["/v1/chat/completions"](i), metadata: { mock_delay_ms: "30000" } },
      }),
    );
    const file = await s.openai.files.create({
      file: await toFile(Buffer.from(lines.join("\n")), "slow.jsonl"),
      purpose: "batch",
    });
    const batch = await s.openai.batches.create({
      input_file_id: file.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const cancelling = await s.openai.batches.cancel(batch.id);
    expect(["cancelling", "cancelled"]).toContain(cancelling.status);
    const done = await waitForBatch(batch.id);
    expect(done.status).toBe("cancelled");
    await expect(s.openai.batches.cancel(batch.id)).rejects.toMatchObject({ status: 409 });
  });
});
