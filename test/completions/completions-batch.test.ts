import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createBatch,
  readFileLines,
  runUntilSettled,
  uploadJsonl,
} from "../batches/batch-helpers.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

const MODEL = "gpt-3.5-turbo-instruct";

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

function completionLine(customId: string, body: Record<string, unknown>) {
  return {
    custom_id: customId,
    method: "POST",
    url: "/v1/completions",
    body: { model: MODEL, ...body },
  };
}

describe("a batch with endpoint /v1/completions", () => {
  it("runs each line as the live endpoint would answer it", async () => {
    const bodies = {
      plain: { prompt: "The lighthouse keeper", max_tokens: 12 },
      several: { prompt: ["First,", "Second,"], n: 2, max_tokens: 5 },
      echoed: { prompt: "Echo me", echo: true, max_tokens: 4 },
    };
    const fileId = await uploadJsonl(
      t,
      Object.entries(bodies).map(([customId, body]) => completionLine(customId, body)),
    );
    const created = await createBatch(t, {
      input_file_id: fileId,
      endpoint: "/v1/completions",
      completion_window: "24h",
    });
    expect(created.endpoint).toBe("/v1/completions");
    expectMatchesComponent("Batch", created);

    const done = await runUntilSettled(t, created.id);
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    const output = await readFileLines(t, done.output_file_id);
    let outputTokens = 0;
    for (const line of output) {
      expect(line.response?.status_code).toBe(200);
      const body = line.response?.body as {
        object: string;
        choices: { text: string }[];
        usage: { completion_tokens: number };
      };
      expectMatchesComponent("CreateCompletionResponse", body);
      outputTokens += body.usage.completion_tokens;
      const live = await t.post("/v1/completions", {
        model: MODEL,
        ...bodies[line.custom_id as keyof typeof bodies],
      });
      const liveBody = (await live.json()) as typeof body;
      expect(body.object).toBe("text_completion");
      expect(body.choices).toEqual(liveBody.choices);
    }
    expect(output.map((line) => line.custom_id).sort()).toEqual(["echoed", "plain", "several"]);
    expect(done.usage.output_tokens).toBe(outputTokens);
  });

  it("fails a line whose body the endpoint refuses, naming the field", async () => {
    const fileId = await uploadJsonl(t, [
      completionLine("ok", { prompt: "fine" }),
      completionLine("bad", { prompt: "fine", suffix_text: "x" }),
    ]);
    const created = await createBatch(t, {
      input_file_id: fileId,
      endpoint: "/v1/completions",
      completion_window: "24h",
    });
    const done = await runUntilSettled(t, created.id);
    expect(done.status).toBe("failed");
    expect(done.errors?.data).toEqual([
      expect.objectContaining({ code: "invalid_request", line: 2, param: "body.suffix_text" }),
    ]);
  });

  it("takes inline requests, and a JSONL body whose lines name /v1/completions", async () => {
    const inline = await createBatch(t, {
      endpoint: "/v1/completions",
      requests: [{ custom_id: "one", body: { model: MODEL, prompt: "Inline prompt" } }],
    });
    expect(inline.endpoint).toBe("/v1/completions");
    expect((await runUntilSettled(t, inline.id)).status).toBe("completed");

    const res = await t.app.request("/v1/batches", {
      method: "POST",
      headers: { "content-type": "application/jsonl" },
      body: `${JSON.stringify(completionLine("a", { prompt: "From JSONL" }))}\n`,
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const fromJsonl = (await res.json()) as { id: string; endpoint: string };
    expect(fromJsonl.endpoint).toBe("/v1/completions");
    expect((await runUntilSettled(t, fromJsonl.id)).status).toBe("completed");
  });
});
