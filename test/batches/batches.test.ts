import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";
import {
  chatLine,
  createBatch,
  getBatch,
  readFileLines,
  runUntilSettled,
  uploadJsonl,
} from "./batch-helpers.js";

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

describe("POST /v1/batches with an input file", () => {
  it("runs a chat batch to completed, one output line per custom_id", async () => {
    const fileId = await uploadJsonl(t, [
      chatLine("a", "first"),
      chatLine("b", "second"),
      chatLine("c", "third"),
    ]);
    const created = await createBatch(t, {
      input_file_id: fileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
      metadata: { job: "nightly" },
    });
    expect(created).toMatchObject({
      object: "batch",
      status: "validating",
      input_file_id: fileId,
      completion_window: "24h",
      metadata: { job: "nightly" },
    });
    expect(created.id).toMatch(/^batch_/);
    expectMatchesComponent("Batch", created);

    const done = await runUntilSettled(t, created.id);
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    expect(done.usage.total_tokens).toBeGreaterThan(0);
    for (const field of ["in_progress_at", "finalizing_at", "completed_at"]) {
      expect(done[field], field).toEqual(expect.any(Number));
    }
    expect(done.error_file_id).toBeUndefined();
    expectMatchesComponent("Batch", done);

    const output = await readFileLines(t, done.output_file_id);
    expect(output.map((line) => line.custom_id).sort()).toEqual(["a", "b", "c"]);
    for (const line of output) {
      expect(line.id).toMatch(/^batch_req_/);
      expect(line.error).toBeNull();
      expect(line.response?.status_code).toBe(200);
      expect(line.response?.request_id).toMatch(/^req_/);
      expectMatchesComponent("CreateChatCompletionResponse", line.response?.body);
    }
    const file = (await (await t.get(`/v1/files/${done.output_file_id}`)).json()) as {
      purpose: string;
    };
    expect(file.purpose).toBe("batch_output");
  });

  it("runs /v1/responses and /v1/embeddings batches with bodies of each endpoint's shape", async () => {
    const responsesFile = await uploadJsonl(t, [
      {
        custom_id: "r1",
        method: "POST",
        url: "/v1/responses",
        body: { model: "gpt-4o-mini", input: "hello" },
      },
      {
        custom_id: "r2",
        method: "POST",
        url: "/v1/responses",
        body: { model: "gpt-4o-mini", input: "bye", max_output_tokens: 16 },
      },
    ]);
    const responsesBatch = await createBatch(t, {
      input_file_id: responsesFile,
      endpoint: "/v1/responses",
      completion_window: "24h",
    });
    const responsesDone = await runUntilSettled(t, responsesBatch.id);
    expect(responsesDone.status).toBe("completed");
    for (const line of await readFileLines(t, responsesDone.output_file_id)) {
      expectMatchesComponent("Response", line.response?.body);
    }

    const embeddingsFile = await uploadJsonl(t, [
      {
        custom_id: "e1",
        method: "POST",
        url: "/v1/embeddings",
        body: { model: "text-embedding-3-small", input: "one", encoding_format: "float" },
      },
      {
        custom_id: "e2",
        method: "POST",
        url: "/v1/embeddings",
        body: {
          model: "text-embedding-3-small",
          input: ["two", "three"],
          encoding_format: "float",
        },
      },
    ]);
    const embeddingsBatch = await createBatch(t, {
      input_file_id: embeddingsFile,
      endpoint: "/v1/embeddings",
      completion_window: "24h",
    });
    const embeddingsDone = await runUntilSettled(t, embeddingsBatch.id);
    const lines = await readFileLines(t, embeddingsDone.output_file_id);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expectMatchesComponent("CreateEmbeddingResponse", line.response?.body);
    }
  });

  it("puts requests that fail at the backend in the error file, the rest in the output file", async () => {
    const fileId = await uploadJsonl(t, [
      chatLine("ok-1", "fine"),
      chatLine("refused", "no", { metadata: { mock_error: "400" } }),
      chatLine("broken", "no", { metadata: { mock_error: "500" } }),
      chatLine("ok-2", "fine too"),
    ]);
    const created = await createBatch(t, {
      input_file_id: fileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const done = await runUntilSettled(t, created.id);
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 4, completed: 2, failed: 2 });
    const output = await readFileLines(t, done.output_file_id);
    const errors = await readFileLines(t, done.error_file_id);
    expect(output.map((line) => line.custom_id).sort()).toEqual(["ok-1", "ok-2"]);
    expect(
      Object.fromEntries(errors.map((line) => [line.custom_id, line.response?.status_code])),
    ).toEqual({ refused: 400, broken: 500 });
    for (const line of errors) {
      expect(line.error).toBeNull();
      expectMatchesComponent("ErrorResponse", line.response?.body);
    }
  });
});

describe("validation", () => {
  it.each([
    ["malformed JSON", ["{not json"], "invalid_json_line", 1],
    [
      "a missing custom_id",
      [
        {
          method: "POST",
          url: "/v1/chat/completions",
          body: { model: "m", messages: [{ role: "user", content: "x" }] },
        },
      ],
      "invalid_request",
      1,
    ],
    [
      "a duplicate custom_id",
      [chatLine("same", "x"), chatLine("other", "y"), chatLine("same", "z")],
      "duplicate_custom_id",
      3,
    ],
    [
      "a url that is not the endpoint",
      [chatLine("a", "x"), { ...chatLine("b", "y"), url: "/v1/embeddings" }],
      "url_mismatch",
      2,
    ],
    ["a method other than POST", [{ ...chatLine("a", "x"), method: "GET" }], "invalid_method", 1],
    ["a body the endpoint rejects", [chatLine("a", "x", { temperature: 5 })], "invalid_request", 1],
    [
      "two models in one file",
      [
        chatLine("a", "x"),
        {
          ...chatLine("b", "y"),
          body: { model: "gpt-4o", messages: [{ role: "user", content: "y" }] },
        },
      ],
      "model_mismatch",
      2,
    ],
  ])("fails a batch with %s, naming the code and line", async (_name, lines, code, line) => {
    const fileId = await uploadJsonl(t, lines);
    const created = await createBatch(t, {
      input_file_id: fileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const failed = await runUntilSettled(t, created.id);
    expect(failed.status).toBe("failed");
    expect(failed.failed_at).toEqual(expect.any(Number));
    expect(failed.errors?.data[0]).toMatchObject({ code, line });
    expect(failed.errors?.data[0]?.message.length).toBeGreaterThan(10);
    expect(failed.request_counts.total).toBe(0);
    expectMatchesComponent("Batch", failed);
  });

  it("fails an empty file", async () => {
    const fileId = await uploadJsonl(t, ["", "  "]);
    const created = await createBatch(t, {
      input_file_id: fileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const failed = await runUntilSettled(t, created.id);
    expect(failed.errors?.data[0]?.code).toBe("empty_file");
  });

  it.each([
    [
      "an unknown file",
      { input_file_id: "file-missing", endpoint: "/v1/chat/completions", completion_window: "24h" },
      "input_file_id",
    ],
    [
      "an unknown endpoint",
      { input_file_id: "file-x", endpoint: "/v1/images", completion_window: "24h" },
      "endpoint",
    ],
    [
      "a bad window",
      { input_file_id: "file-x", endpoint: "/v1/chat/completions", completion_window: "2d" },
      "completion_window",
    ],
    ["no endpoint", { input_file_id: "file-x", completion_window: "24h" }, "endpoint"],
    ["neither a file nor requests", { endpoint: "/v1/chat/completions" }, "input_file_id"],
  ])("answers 400 at create time for %s", async (_name, body, param) => {
    const res = await t.post("/v1/batches", body);
    expect(res.status, await res.clone().text()).toBe(400);
    const json = (await res.json()) as { error: { param: string } };
    expectMatchesComponent("ErrorResponse", json);
    expect(json.error.param).toBe(param);
  });

  it("refuses a file uploaded for another purpose", async () => {
    const form = new FormData();
    form.append("purpose", "user_data");
    form.append("file", new Blob(["{}"]), "notes.jsonl");
    const uploaded = (await (
      await t.app.request("/v1/files", { method: "POST", body: form })
    ).json()) as { id: string };
    const res = await t.post("/v1/batches", {
      input_file_id: uploaded.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    expect(res.status).toBe(400);
  });
});

describe("cancel and expiry", () => {
  it("cancels: what finished stays in the output, the rest is batch_cancelled, and a second cancel of a done batch is 409", async () => {
    t.services.executor.start();
    const fileId = await uploadJsonl(t, [
      chatLine("fast", "quick"),
      chatLine("slow-1", "slow", { metadata: { mock_delay_ms: "60000" } }),
      chatLine("slow-2", "slow", { metadata: { mock_delay_ms: "60000" } }),
    ]);
    const created = await createBatch(t, {
      input_file_id: fileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    for (let i = 0; i < 200; i++) {
      await t.services.supervisor.sweep();
      const batch = await getBatch(t, created.id);
      if (batch.request_counts.completed === 1) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const cancelling = (await (await t.post(`/v1/batches/${created.id}/cancel`, "")).json()) as {
      status: string;
      cancelling_at: number;
    };
    expect(cancelling.status).toBe("cancelling");
    expect(cancelling.cancelling_at).toEqual(expect.any(Number));
    const done = await runUntilSettled(t, created.id);
    expect(done.status).toBe("cancelled");
    expect(done.request_counts).toEqual({ total: 3, completed: 1, failed: 2 });
    expect((await readFileLines(t, done.output_file_id)).map((line) => line.custom_id)).toEqual([
      "fast",
    ]);
    const errors = await readFileLines(t, done.error_file_id);
    expect(errors.map((line) => [line.custom_id, line.response, line.error?.code])).toEqual([
      ["slow-1", null, "batch_cancelled"],
      ["slow-2", null, "batch_cancelled"],
    ]);
    expect(t.services.executor.inFlight()).toBe(0); // the 60 s calls were aborted
    const again = await t.post(`/v1/batches/${created.id}/cancel`, "");
    expect(again.status).toBe(409);
    expect(again.headers.get("x-should-retry")).toBe("false");
  });

  it("expires at the end of the window, keeping the output of what finished", async () => {
    await t.close();
    t = createTestContext({ config: { batches: { windowSecondsOverride: 1 } } });
    t.services.executor.start();
    const fileId = await uploadJsonl(t, [
      chatLine("fast", "quick"),
      chatLine("slow", "slow", { metadata: { mock_delay_ms: "60000" } }),
    ]);
    const created = await createBatch(t, {
      input_file_id: fileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    expect(created.expires_at).toBe((created.created_at as number) + 1);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const done = await runUntilSettled(t, created.id);
    expect(done.status).toBe("expired");
    expect(done.expired_at).toEqual(expect.any(Number));
    expect((await readFileLines(t, done.output_file_id)).map((line) => line.custom_id)).toEqual([
      "fast",
    ]);
    const errors = await readFileLines(t, done.error_file_id);
    expect(errors).toEqual([
      expect.objectContaining({
        custom_id: "slow",
        response: null,
        error: {
          code: "batch_expired",
          message: "This request could not be executed before the completion window expired.",
        },
      }),
    ]);
  });
});

describe("the native API", () => {
  it("takes inline requests and serves /results and /results.jsonl", async () => {
    const created = await createBatch(t, {
      window: "24h",
      requests: [
        {
          custom_id: "one",
          body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
        },
        { body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "there" }] } },
      ],
    });
    expect(created.endpoint).toBe("/v1/chat/completions");
    const done = await runUntilSettled(t, created.id);
    expect(done.status).toBe("completed");
    const results = (await (await t.get(`/v1/batches/${created.id}/results`)).json()) as {
      batch_id: string;
      status: string;
      output_url: string;
      results: { custom_id: string }[];
    };
    expect(results.batch_id).toBe(created.id);
    expect(results.status).toBe("completed");
    expect(results.output_url).toMatch(new RegExp(`/v1/batches/${created.id}/results.jsonl$`));
    expect(results.results.map((line) => line.custom_id).sort()).toEqual(["one", "request-2"]);
    const jsonl = await t.get(`/v1/batches/${created.id}/results.jsonl`);
    expect(jsonl.headers.get("content-type")).toMatch(/jsonl/);
    const lines = (await jsonl.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { custom_id: string });
    expect(lines.map((line) => line.custom_id).sort()).toEqual(["one", "request-2"]);
  });

  it("takes a raw JSONL body, with content-only lines and ?model=", async () => {
    const body = [
      '{"content": "first question"}',
      '{"content": "second question", "custom_id": "mine"}',
    ].join("\n");
    const res = await t.app.request("/v1/batches?model=gpt-4o-mini", {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body,
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const created = (await res.json()) as { id: string; endpoint: string };
    expect(created.endpoint).toBe("/v1/chat/completions");
    const done = await runUntilSettled(t, created.id);
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    const output = await readFileLines(t, done.output_file_id);
    expect(output.map((line) => line.custom_id).sort()).toEqual(["mine", "request-1"]);
  });

  it("takes a raw JSONL body of OpenAI-style lines, endpoint from their url", async () => {
    const body = [chatLine("x", "one"), chatLine("y", "two")]
      .map((line) => JSON.stringify(line))
      .join("\n");
    const res = await t.app.request("/v1/batches", {
      method: "POST",
      headers: { "content-type": "application/jsonl" },
      body,
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const created = (await res.json()) as { id: string };
    expect((await runUntilSettled(t, created.id)).status).toBe("completed");
  });

  it("answers 400 for content-only lines without ?model=", async () => {
    const res = await t.app.request("/v1/batches", {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: '{"content": "x"}',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe("model");
  });
});

describe("GET /v1/batches", () => {
  it("lists newest first with after/limit and has_more, and 404s unknown ids", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(
        (
          await createBatch(t, {
            requests: [{ body: { model: "m", messages: [{ role: "user", content: `${i}` }] } }],
          })
        ).id,
      );
    }
    const first = (await (await t.get("/v1/batches?limit=2")).json()) as {
      data: { id: string }[];
      has_more: boolean;
    };
    expect(first.data.map((batch) => batch.id)).toEqual([ids[2], ids[1]]);
    expect(first.has_more).toBe(true);
    const second = (await (await t.get(`/v1/batches?limit=2&after=${ids[1]}`)).json()) as {
      data: { id: string }[];
      has_more: boolean;
    };
    expect(second.data.map((batch) => batch.id)).toEqual([ids[0]]);
    expect(second.has_more).toBe(false);
    expect((await t.get("/v1/batches/batch_missing")).status).toBe(404);
    expect((await t.post("/v1/batches/batch_missing/cancel", "")).status).toBe(404);
  });
});
