import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createBatchLineStore } from "../../src/store/batch-lines.js";
import { createBatchStore } from "../../src/store/batches.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";
import { chatLine, createBatch, getBatch, runUntilSettled, uploadJsonl } from "./batch-helpers.js";

/** Small bounds, so that no test needs megabytes to cross them. */
const MAX_LINE_BYTES = 1024;
const MAX_INPUT_BYTES = 64 * 1024;

let t: TestContext;
beforeEach(() => {
  t = createTestContext({
    config: { batches: { maxLineBytes: MAX_LINE_BYTES, maxInputBytes: MAX_INPUT_BYTES } },
  });
});
afterEach(() => t.close());

const encoder = new TextEncoder();

/** A chat line of exactly `bytes` bytes of JSON (ASCII, so characters are bytes). */
function lineOfBytes(customId: string, bytes: number): string {
  const empty = JSON.stringify(chatLine(customId, ""));
  const line = JSON.stringify(chatLine(customId, "x".repeat(bytes - empty.length)));
  expect(line.length).toBe(bytes);
  return line;
}

/** A body that arrives in pieces of `size` bytes, without a content-length. */
function streamed(bytes: Uint8Array, size = 256): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

function postJsonl(
  body: string | Uint8Array | ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return Promise.resolve(
    t.app.request("/v1/batches", {
      method: "POST",
      headers: { "content-type": "application/x-ndjson", ...headers },
      body,
      ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
    } as RequestInit),
  );
}

async function expectError(res: Response, status: number): Promise<string> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text) as { error: { message: string; type: string } };
  expect(body.error.type).toBe("invalid_request_error");
  expectMatchesComponent("ErrorResponse", body);
  return body.error.message;
}

function count(table: string): number {
  return (t.db.$client.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
}

/** No batch, no file row, no bytes on disk (complete or temporary). */
function expectNothingStored(): void {
  expect(count("batches")).toBe(0);
  expect(count("files")).toBe(0);
  const filesDir = path.join(t.config.dataDir, "files");
  const entries = existsSync(filesDir) ? readdirSync(filesDir) : [];
  expect(entries.filter((name) => name !== "tmp")).toEqual([]);
  const tempDir = path.join(filesDir, "tmp");
  expect(existsSync(tempDir) ? readdirSync(tempDir) : []).toEqual([]);
}

describe("POST /v1/batches with a JSONL body: bounds and encoding", () => {
  it("refuses a line over batches.max_line_bytes with a 400 naming the line, storing nothing", async () => {
    const body = [
      JSON.stringify(chatLine("a", "fine")),
      lineOfBytes("b", MAX_LINE_BYTES + 1),
      JSON.stringify(chatLine("c", "fine")),
    ].join("\n");
    const message = await expectError(await postJsonl(body), 400);
    expect(message).toContain("Line 2");
    expect(message).toContain(String(MAX_LINE_BYTES));
    expectNothingStored();
  });

  it("refuses a body at its 50,001st request, without reading on", async () => {
    await t.close();
    t = createTestContext(); // the default input bound, so that only the line count matters
    const line = JSON.stringify({ content: "hi" });
    const requests = Array.from({ length: 50_001 }, () => line);
    // Blank lines are not requests; a body that goes on for megabytes past line 50,001 is not read.
    const body = `\n${requests.join("\n")}\n${"x".repeat(8 * 1024 * 1024)}`;
    const res = await Promise.resolve(
      t.app.request("/v1/batches?model=gpt-4o-mini", {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body: streamed(encoder.encode(body), 64 * 1024),
        duplex: "half",
      } as RequestInit),
    );
    const text = await res.text();
    expect(res.status, text).toBe(400);
    expect(JSON.parse(text).error).toMatchObject({ code: "too_many_tasks" });
    expect(JSON.parse(text).error.message).toContain("line 50002");
    expectNothingStored();
  });

  it("accepts a line of exactly the limit, with either line ending", async () => {
    const body = `${lineOfBytes("a", MAX_LINE_BYTES)}\r\n${lineOfBytes("b", MAX_LINE_BYTES)}\n`;
    const res = await postJsonl(body);
    expect(res.status, await res.clone().text()).toBe(200);
    const done = await runUntilSettled(t, ((await res.json()) as { id: string }).id);
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
  });

  it("refuses a line that never ends, streamed in small pieces, without buffering it whole", async () => {
    const head = '{"custom_id":"big","method":"POST","url":"/v1/chat/completions","body":{"x":"';
    const bytes = encoder.encode(head + "x".repeat(8 * MAX_LINE_BYTES));
    const message = await expectError(await postJsonl(streamed(bytes)), 400);
    expect(message).toContain("Line 1");
    expectNothingStored();
  });

  it("refuses a body over batches.max_input_bytes with a 413, by content-length or as it streams", async () => {
    const lines: string[] = [];
    for (let bytes = 0; bytes <= MAX_INPUT_BYTES; bytes += 100) {
      lines.push(JSON.stringify(chatLine(`r-${lines.length}`, "y".repeat(30))));
    }
    const bytes = encoder.encode(lines.join("\n"));
    expect(bytes.length).toBeGreaterThan(MAX_INPUT_BYTES);
    const declared = await postJsonl(bytes, { "content-length": String(bytes.length) });
    expect(await expectError(declared, 413)).toContain("at most");
    const chunked = await postJsonl(streamed(bytes, 4096));
    expect(await expectError(chunked, 413)).toContain("at most");
    // The same limit holds for a batch file uploaded through /v1/files.
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new Blob([bytes]), "input.jsonl");
    const uploaded = await t.app.request("/v1/files", { method: "POST", body: form });
    expect(await expectError(uploaded, 413)).toContain("at most");
    expectNothingStored();
  });

  it("refuses invalid UTF-8 in a line with a 400 naming the line, as the JSON routes do", async () => {
    const good = encoder.encode(`${JSON.stringify(chatLine("a", "fine"))}\n`);
    const bad = encoder.encode(JSON.stringify(chatLine("b", "caf##")));
    const at = bad.indexOf("#".charCodeAt(0));
    bad.set([0xc3, 0x28], at); // a lead byte followed by a byte that cannot continue it
    const message = await expectError(await postJsonl(new Uint8Array([...good, ...bad])), 400);
    expect(message).toContain("Line 2");
    expect(message).toContain("UTF-8");
    expectNothingStored();
  });

  it("answers a body that cannot be read to its end (the client went away) with a 4xx, storing nothing", async () => {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls += 1;
        if (pulls < 5) {
          controller.enqueue(encoder.encode(`${JSON.stringify(chatLine(`r-${pulls}`, "x"))}\n`));
        } else {
          controller.error(new Error("aborted"));
        }
      },
    });
    const res = await postJsonl(body);
    expect(res.status, await res.clone().text()).toBe(400);
    expectNothingStored();
  });
});

describe("a batch input file: line bounds and encoding", () => {
  it("fails the batch with an errors.data entry naming each line over the limit", async () => {
    const fileId = await uploadJsonl(t, [
      chatLine("a", "fine"),
      lineOfBytes("b", MAX_LINE_BYTES + 1),
      "not json",
      lineOfBytes("d", MAX_LINE_BYTES),
      `${lineOfBytes("e", MAX_LINE_BYTES)}${"x".repeat(20 * MAX_LINE_BYTES)}`,
    ]);
    const created = await createBatch(t, {
      input_file_id: fileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const done = await runUntilSettled(t, created.id);
    expect(done.status).toBe("failed");
    expect(done.errors?.data.map((entry) => [entry.code, entry.line])).toEqual([
      ["line_too_long", 2],
      ["invalid_json_line", 3],
      ["line_too_long", 5],
    ]);
    expect(done.errors?.data[0]?.message).toContain(String(MAX_LINE_BYTES));
    expect(count("work_items")).toBe(0);
  });

  it("reports invalid UTF-8 as a validation error on that line, never as U+FFFD", async () => {
    const line = (customId: string) =>
      encoder.encode(`${JSON.stringify(chatLine(customId, "caf#"))}\n`);
    const bad = line("b");
    bad.set([0xff], bad.indexOf("#".charCodeAt(0)));
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new Blob([line("a"), bad, line("c")]), "input.jsonl");
    const uploaded = await t.app.request("/v1/files", { method: "POST", body: form });
    expect(uploaded.status, await uploaded.clone().text()).toBe(200);
    const created = await createBatch(t, {
      input_file_id: ((await uploaded.json()) as { id: string }).id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const done = await runUntilSettled(t, created.id);
    expect(done.status).toBe("failed");
    expect(done.errors?.data).toEqual([
      expect.objectContaining({ code: "invalid_json_line", line: 2 }),
    ]);
    expect(done.errors?.data[0]?.message).toContain("UTF-8");
  });
});

describe("cancel during validation", () => {
  beforeEach(async () => {
    await t.close();
    t = createTestContext(); // input larger than the small bounds above
  });

  it("ends cancelled with request counts that add up when the cancel lands mid-validation", async () => {
    const lines = Array.from({ length: 3000 }, (_, index) => chatLine(`r-${index}`, "hi"));
    const fileId = await uploadJsonl(t, lines);
    const { files } = t.services;
    const readLines = files.readLines.bind(files);
    let batchId = "";
    let cancelStatus: string | null = null;
    // The cancel arrives while validation is reading line 1500: after the first chunk of held
    // lines was inserted, before the last.
    vi.spyOn(files, "readLines").mockImplementation((...args) => {
      const source = readLines(...args);
      return (async function* () {
        for await (const entry of source) {
          if (entry.line === 1500) {
            const res = await t.post(`/v1/batches/${batchId}/cancel`, "");
            cancelStatus = ((await res.json()) as { status: string }).status;
          }
          yield entry;
        }
      })();
    });
    const created = await createBatch(t, {
      input_file_id: fileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    batchId = created.id;
    const done = await runUntilSettled(t, created.id);
    expect(cancelStatus).toBe("cancelling");
    expect(done.status).toBe("cancelled");
    // Cancelled before its lines were counted: none were accepted, none ran, none failed.
    expect(done.request_counts).toEqual({ total: 0, completed: 0, failed: 0 });
    expect(done.output_file_id ?? null).toBeNull();
    expect(done.error_file_id ?? null).toBeNull();
    expect(count("work_items")).toBe(0);
  });

  it("counts nothing for a batch cancelled while a validation cut short by a crash left held lines", async () => {
    const fileId = await uploadJsonl(t, [chatLine("a", "hi"), chatLine("b", "hi")]);
    // The state a crash mid-validation leaves once the cancel has landed: held lines, no total.
    createBatchStore(t.db).insert({
      id: "batch_crashed",
      projectId: "default",
      status: "cancelling",
      endpoint: "/v1/chat/completions",
      inputFileId: fileId,
      completionWindow: "24h",
      metadata: null,
      outputExpiresAfterSeconds: null,
      createdAt: 1,
      cancellingAt: 2,
      expiresAt: 4_000_000_000,
    });
    createBatchLineStore(t.db).insertHeld(
      { id: "batch_crashed", projectId: "default", backend: "mock", lane: 2, nowMs: 1 },
      [
        { line: 1, customId: "a", payload: {} },
        { line: 2, customId: "b", payload: {} },
      ],
    );
    const done = await runUntilSettled(t, "batch_crashed");
    expect(done.status).toBe("cancelled");
    expect(done.request_counts).toEqual({ total: 0, completed: 0, failed: 0 });
    expect(done.error_file_id ?? null).toBeNull();
  });

  it("keeps counting a batch cancelled after validation: total = completed + failed", async () => {
    const fileId = await uploadJsonl(t, [chatLine("a", "hi"), chatLine("b", "hi")]);
    const created = await createBatch(t, {
      input_file_id: fileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    await t.services.supervisor.sweep();
    expect((await getBatch(t, created.id)).status).toBe("in_progress");
    await t.post(`/v1/batches/${created.id}/cancel`, "");
    const done = await runUntilSettled(t, created.id);
    expect(done.request_counts).toEqual({ total: 2, completed: 0, failed: 2 });
  });
});
