import { afterEach, describe, expect, it } from "vitest";
import { chatLine, uploadJsonl } from "../batches/batch-helpers.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

/** The per-project cap on unfinished work: a clear 429 before anything is written. */

let t: TestContext;
let nowMs: number;
afterEach(() => t.close());

function withCap(maxQueuedPerProject: number) {
  nowMs = Date.now();
  t = createTestContext({
    config: { queue: { maxQueuedPerProject } },
    clock: { nowMs: () => nowMs },
  });
}

const background = () =>
  t.post("/v1/responses", { model: "gpt-4o-mini", input: "hi", background: true });

async function runAll() {
  const { executor } = t.services;
  while (executor.runOnce() > 0 || executor.inFlight() > 0) {
    await executor.drain();
  }
}

async function expectQueueLimit(res: Response, { limit, remaining }: Record<string, number>) {
  const text = await res.clone().text();
  expect(res.status, text).toBe(429);
  const body = (await res.json()) as { error: Record<string, unknown> };
  expect(body.error).toMatchObject({ type: "requests", code: "queue_limit_exceeded", param: null });
  expect(body.error.message).toContain(`at most ${limit}`);
  expect(body.error.message).toContain("FERRY_MAX_QUEUED_PER_PROJECT");
  expect(body.error.message).toContain("Wait for queued work to finish");
  expect(res.headers.get("retry-after")).toBe("5");
  expect(res.headers.get("retry-after-ms")).toBe("5000");
  expect(res.headers.get("x-ratelimit-limit-queued-requests")).toBe(String(limit));
  expect(res.headers.get("x-ratelimit-remaining-queued-requests")).toBe(String(remaining));
}

async function count(path: string): Promise<number> {
  const res = await t.get(path);
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { data: unknown[] }).data.length;
}

describe("the per-project queue cap", () => {
  it("refuses a background response past the cap with a 429, and takes work again once it ran", async () => {
    withCap(2);
    expect((await background()).status).toBe(200);
    expect((await background()).status).toBe(200);
    await expectQueueLimit(await background(), { limit: 2, remaining: 0 });
    expect(await count("/v1/responses?limit=100")).toBe(2); // the refused one was never written
    await runAll();
    await expectQueueLimit(await background(), { limit: 2, remaining: 0 }); // counted just now
    nowMs += 1000; // a project over its cap is counted again at most every 250 ms
    expect((await background()).status).toBe(200);
  });

  it("refuses a stream response past the cap", async () => {
    withCap(1);
    const stream = (await (await t.post("/v1/streams", { name: "s", window: "24h" })).json()) as {
      id: string;
    };
    const item = () =>
      t.post("/v1/responses", {
        model: "gpt-4o-mini",
        input: "hi",
        metadata: { stream_id: stream.id },
      });
    expect((await item()).status).toBe(200);
    await expectQueueLimit(await item(), { limit: 1, remaining: 0 });
  });

  it("refuses a batch of inline requests whole, writing neither a batch nor a file", async () => {
    withCap(3);
    expect((await background()).status).toBe(200);
    const res = await t.post("/v1/batches", {
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
      requests: [1, 2, 3].map((n) => ({ custom_id: `r${n}`, body: chatLine(`r${n}`, "x").body })),
    });
    await expectQueueLimit(res, { limit: 3, remaining: 2 });
    expect(await count("/v1/batches")).toBe(0);
    expect(await count("/v1/files")).toBe(0);
  });

  it("refuses a batch whose input file has more lines than the project has room for", async () => {
    withCap(3);
    expect((await background()).status).toBe(200);
    const fileId = await uploadJsonl(t, [
      chatLine("a", "x"),
      chatLine("b", "y"),
      chatLine("c", "z"),
    ]);
    const create = () =>
      t.post("/v1/batches", {
        input_file_id: fileId,
        endpoint: "/v1/chat/completions",
        completion_window: "24h",
      });
    await expectQueueLimit(await create(), { limit: 3, remaining: 2 });
    expect(await count("/v1/batches")).toBe(0);
    expect(await count("/v1/files")).toBe(1); // the caller's upload stays
    await runAll();
    nowMs += 1000;
    expect((await create()).status).toBe(200);
  });

  it("refuses a JSONL batch past the cap and drops the file it made", async () => {
    withCap(1);
    const res = await t.app.request("/v1/batches?endpoint=/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/jsonl" },
      body: [chatLine("a", "x"), chatLine("b", "y")].map((line) => JSON.stringify(line)).join("\n"),
    });
    await expectQueueLimit(res, { limit: 1, remaining: 1 });
    expect(await count("/v1/batches")).toBe(0);
    expect(await count("/v1/files")).toBe(0);
  });

  it("counts a batch's lines against the cap while they wait", async () => {
    withCap(2);
    const fileId = await uploadJsonl(t, [chatLine("a", "x"), chatLine("b", "y")]);
    const res = await t.post("/v1/batches", {
      input_file_id: fileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    expect(res.status, await res.clone().text()).toBe(200);
    await t.services.supervisor.sweep(); // validation: two held, then queued, lines
    await expectQueueLimit(await background(), { limit: 2, remaining: 0 });
  });

  it("has no cap at 0", async () => {
    withCap(0);
    for (let i = 0; i < 3; i++) {
      expect((await background()).status).toBe(200);
    }
  });
});
