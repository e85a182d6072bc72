import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AppEnv } from "../../src/http/app-env.js";
import { authenticate } from "../../src/http/auth.js";
import { createErrorHandler } from "../../src/http/errors.js";
import { contentDisposition, filesRoutes } from "../../src/http/files.js";
import type { Clock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createFilesService, type FileLimits, type FileLine } from "../../src/services/files.js";
import { BlobSourceError, createFileBlobStore } from "../../src/store/file-blobs.js";
import { createFileStore } from "../../src/store/files.js";
import { files as filesTable } from "../../src/store/schema.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

interface FileBody {
  id: string;
  object: string;
  bytes: number;
  created_at: number;
  expires_at?: number;
  filename: string;
  purpose: string;
  status: string;
  [field: string]: unknown;
}

interface FileList {
  object: string;
  data: FileBody[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const START_MS = 1_750_000_000_000;
const THIRTY_DAYS = 30 * 24 * 3600;

let nowMs = START_MS;
const clock: Clock = { nowMs: () => nowMs };
let t: TestContext;

beforeEach(() => {
  nowMs = START_MS;
  t = createTestContext({ clock });
});
afterEach(() => t.close());

type Part = readonly [name: string, value: string | Blob, filename?: string];

function formOf(parts: readonly Part[]): FormData {
  const form = new FormData();
  for (const [name, value, filename] of parts) {
    if (typeof value === "string") {
      form.append(name, value);
    } else {
      form.append(name, value, filename);
    }
  }
  return form;
}

function blob(content: string | Uint8Array): Blob {
  return new Blob([content]);
}

async function upload(parts: readonly Part[], app: Hono<AppEnv> = t.app): Promise<Response> {
  return app.request("/v1/files", { method: "POST", body: formOf(parts) });
}

/** Uploads and expects a 200; the clock moves a second on, so created_at orders the files. */
async function uploadOk(
  filename: string,
  content: string | Uint8Array,
  purpose = "user_data",
  extra: readonly Part[] = [],
): Promise<FileBody> {
  const res = await upload([["purpose", purpose], ...extra, ["file", blob(content), filename]]);
  expect(res.status, await res.clone().text()).toBe(200);
  nowMs += 1000;
  return (await res.json()) as FileBody;
}

/** A hand-written multipart body, for shapes FormData cannot produce. */
function rawMultipart(sections: readonly string[], boundary = "ferry-boundary"): RequestInit {
  const body = `${sections.map((section) => `--${boundary}\r\n${section}\r\n`).join("")}--${boundary}--\r\n`;
  return {
    method: "POST",
    headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    body,
  };
}

function filesDir(): string {
  return path.join(t.config.dataDir, "files");
}

/** Complete files on disk (the temp dir aside). */
function storedBlobs(): string[] {
  return existsSync(filesDir()) ? readdirSync(filesDir()).filter((name) => name !== "tmp") : [];
}

function tempFiles(): string[] {
  const dir = path.join(filesDir(), "tmp");
  return existsSync(dir) ? readdirSync(dir) : [];
}

function rowCount(): number {
  return t.db.select().from(filesTable).all().length;
}

function expectNothingStored(): void {
  expect(rowCount()).toBe(0);
  expect(storedBlobs()).toEqual([]);
  expect(tempFiles()).toEqual([]);
}

async function expectError(res: Response, status: number, param: string | null): Promise<string> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text) as ErrorBody;
  expect(body.error).toMatchObject({ type: "invalid_request_error", param });
  expectMatchesComponent("ErrorResponse", body);
  return body.error.message;
}

/** The files routes over a service with small limits, as createApp mounts them. */
function appWithLimits(limits: FileLimits): Hono<AppEnv> {
  const files = createFilesService({
    store: createFileStore(t.db),
    blobs: createFileBlobStore(filesDir()),
    clock,
    limits,
  });
  const app = new Hono<AppEnv>();
  app.onError(createErrorHandler(createSilentLogger()));
  app.use(authenticate());
  app.route("/v1/files", filesRoutes({ files, logger: createSilentLogger() }));
  return app;
}

describe("POST /v1/files", () => {
  it("stores the bytes and returns the File object", async () => {
    const file = await uploadOk("notes.txt", "hello ferry");
    expectMatchesComponent("OpenAIFile", file);
    expect(file).toEqual({
      id: expect.stringMatching(/^file-[0-9a-f]{48}$/),
      object: "file",
      bytes: 11,
      created_at: START_MS / 1000,
      filename: "notes.txt",
      purpose: "user_data",
      status: "processed",
    });
    expect(file).not.toHaveProperty("expires_at");
    expect(storedBlobs()).toEqual([file.id]);
    expect(readFileSync(path.join(filesDir(), file.id), "utf8")).toBe("hello ferry");
    expect(tempFiles()).toEqual([]);
    const row = t.db.select().from(filesTable).get();
    expect(row?.storagePath).toBe(`files/${file.id}`);
  });

  it("accepts the fields after the file part", async () => {
    const res = await upload([
      ["file", blob('{"a":1}\n'), "late.jsonl"],
      ["purpose", "batch"],
      ["expires_after[anchor]", "created_at"],
      ["expires_after[seconds]", "7200"],
    ]);
    expect(res.status, await res.clone().text()).toBe(200);
    const file = (await res.json()) as FileBody;
    expect(file).toMatchObject({ purpose: "batch", filename: "late.jsonl", bytes: 8 });
    expect(file.expires_at).toBe(file.created_at + 7200);
  });

  it("expires batch files after 30 days by default, and others never", async () => {
    const batch = await uploadOk("input.jsonl", '{"x":1}\n', "batch");
    expect(batch.expires_at).toBe(batch.created_at + THIRTY_DAYS);
    expectMatchesComponent("OpenAIFile", batch);
    const other = await uploadOk("a.bin", "x", "assistants");
    expect(other).not.toHaveProperty("expires_at");
  });

  it("sets expires_at from expires_after", async () => {
    const file = await uploadOk("a.txt", "x", "vision", [
      ["expires_after[anchor]", "created_at"],
      ["expires_after[seconds]", "3600"],
    ]);
    expect(file.expires_at).toBe(file.created_at + 3600);
  });

  it("accepts every upload purpose", async () => {
    for (const purpose of ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]) {
      const file = await uploadOk("data.jsonl", "{}\n", purpose);
      expect(file.purpose).toBe(purpose);
    }
  });

  it("keeps only the base name of a file name with a path, and writes nothing outside", async () => {
    const file = await uploadOk("../../etc/passwd", "root:x:0:0");
    expect(file.filename).toBe("passwd");
    expect(storedBlobs()).toEqual([file.id]);
    expect(existsSync(path.join(t.config.dataDir, "etc"))).toBe(false);
    expect(readdirSync(t.config.dataDir).sort()).toEqual(["files"]);
  });

  it("keeps a UTF-8 file name and sends it back in content-disposition", async () => {
    const file = await uploadOk("résumé ☃.txt", "x");
    expect(file.filename).toBe("résumé ☃.txt");
    const res = await t.app.request(`/v1/files/${file.id}/content`);
    expect(res.headers.get("content-disposition")).toBe(
      `attachment; filename="r_sum_ _.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%98%83.txt`,
    );
  });

  it("quotes any file name safely in content-disposition", () => {
    expect(contentDisposition('a"b\\c\r\nd;e.txt')).toBe(
      `attachment; filename="a_b_c__d;e.txt"; filename*=UTF-8''a%22b%5Cc%0D%0Ad%3Be.txt`,
    );
  });

  it("is not limited by the JSON body limit", async () => {
    await t.close();
    t = createTestContext({ clock, config: { limits: { maxBodyBytes: 1024 } } });
    const file = await uploadOk("big.bin", new Uint8Array(200 * 1024));
    expect(file.bytes).toBe(200 * 1024);
    const json = await t.post("/v1/responses", { model: "m", input: "x".repeat(4096) });
    expect(json.status).toBe(413);
  });

  const badForms: {
    name: string;
    parts: readonly Part[];
    param: string | null;
    mentions: string;
  }[] = [
    {
      name: "a missing purpose",
      parts: [["file", blob("x"), "a.txt"]],
      param: "purpose",
      mentions: "Missing required parameter: 'purpose'",
    },
    {
      name: "a missing purpose after the file",
      parts: [
        ["file", blob("x"), "a.txt"],
        ["expires_after[anchor]", "created_at"],
        ["expires_after[seconds]", "3600"],
      ],
      param: "purpose",
      mentions: "purpose",
    },
    {
      name: "an unknown purpose",
      parts: [
        ["purpose", "batch_output"],
        ["file", blob("x"), "a.txt"],
      ],
      param: "purpose",
      mentions: "'assistants', 'batch'",
    },
    {
      name: "an unknown purpose after the file",
      parts: [
        ["file", blob("x"), "a.txt"],
        ["purpose", "fun"],
      ],
      param: "purpose",
      mentions: "'fun'",
    },
    {
      name: "no file part",
      parts: [["purpose", "user_data"]],
      param: "file",
      mentions: "Missing required parameter: 'file'",
    },
    {
      name: "two files",
      parts: [
        ["purpose", "user_data"],
        ["file", blob("one"), "one.txt"],
        ["file", blob("two"), "two.txt"],
      ],
      param: "file",
      mentions: "exactly one file",
    },
    {
      name: "a file under another name",
      parts: [
        ["purpose", "user_data"],
        ["document", blob("one"), "one.txt"],
      ],
      param: "document",
      mentions: "'file' field",
    },
    {
      name: "an empty file",
      parts: [
        ["purpose", "user_data"],
        ["file", blob(""), "empty.txt"],
      ],
      param: "file",
      mentions: "empty",
    },
    {
      name: "a batch file that is not .jsonl",
      parts: [
        ["purpose", "batch"],
        ["file", blob('{"a":1}\n'), "input.json"],
      ],
      param: "file",
      mentions: "Must be .jsonl",
    },
    {
      name: "a batch file that is not .jsonl, purpose after the file",
      parts: [
        ["file", blob('{"a":1}\n'), "input.csv"],
        ["purpose", "batch"],
      ],
      param: "file",
      mentions: "Must be .jsonl",
    },
    {
      name: "an unknown expires_after anchor",
      parts: [
        ["purpose", "user_data"],
        ["expires_after[anchor]", "last_active_at"],
        ["expires_after[seconds]", "3600"],
        ["file", blob("x"), "a.txt"],
      ],
      param: "expires_after.anchor",
      mentions: "'created_at'",
    },
    ...["3599", "2592001", "1.5", "-3600", "soon", ""].map((seconds) => ({
      name: `expires_after[seconds]=${JSON.stringify(seconds)}`,
      parts: [
        ["purpose", "user_data"],
        ["file", blob("x"), "a.txt"],
        ["expires_after[anchor]", "created_at"],
        ["expires_after[seconds]", seconds],
      ] as const,
      param: "expires_after.seconds",
      mentions: "between 3600",
    })),
    {
      name: "an anchor without seconds",
      parts: [
        ["purpose", "user_data"],
        ["expires_after[anchor]", "created_at"],
        ["file", blob("x"), "a.txt"],
      ],
      param: "expires_after.seconds",
      mentions: "Missing required parameter",
    },
    {
      name: "an unknown field",
      parts: [
        ["purpose", "user_data"],
        ["colour", "blue"],
        ["file", blob("x"), "a.txt"],
      ],
      param: "colour",
      mentions: "Unknown parameter",
    },
  ];

  for (const bad of badForms) {
    it(`rejects ${bad.name} with a 400 and stores nothing`, async () => {
      const message = await expectError(await upload(bad.parts), 400, bad.param);
      expect(message).toContain(bad.mentions);
      expectNothingStored();
    });
  }

  it("rejects a 'file' field that is text, not a file part", async () => {
    const res = await t.app.request(
      "/v1/files",
      rawMultipart([
        'Content-Disposition: form-data; name="purpose"\r\n\r\nuser_data',
        'Content-Disposition: form-data; name="file"\r\n\r\nnot a file',
      ]),
    );
    expect(await expectError(res, 400, "file")).toContain("filename");
    expectNothingStored();
  });

  it("rejects a file part without a filename", async () => {
    const res = await t.app.request(
      "/v1/files",
      rawMultipart([
        'Content-Disposition: form-data; name="purpose"\r\n\r\nuser_data',
        'Content-Disposition: form-data; name="file"\r\nContent-Type: application/octet-stream\r\n\r\nbytes',
      ]),
    );
    expect(await expectError(res, 400, "file")).toContain("filename");
    expectNothingStored();
  });

  it("tells a JSON client to send multipart/form-data", async () => {
    const res = await t.post("/v1/files", { purpose: "batch", file: "x" });
    expect(await expectError(res, 400, null)).toContain("multipart/form-data");
  });

  it("rejects a multipart body without a boundary or cut short", async () => {
    const noBoundary = await t.app.request("/v1/files", {
      method: "POST",
      headers: { "content-type": "multipart/form-data" },
      body: "x",
    });
    expect(await expectError(noBoundary, 400, null)).toContain("multipart/form-data");
    const cutShort = await t.app.request("/v1/files", {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=b" },
      body: '--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\npartial',
    });
    expect(await expectError(cutShort, 400, null)).toContain("Could not read");
    expectNothingStored();
  });

  it("leaves no row and no bytes when the client goes away mid-upload", async () => {
    const head = new TextEncoder().encode(
      '--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n' +
        '--b\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n',
    );
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls += 1;
        if (pulls === 1) {
          controller.enqueue(head);
        } else if (pulls < 10) {
          controller.enqueue(randomBytes(64 * 1024));
        } else {
          controller.error(new Error("socket hang up"));
        }
      },
    });
    const res = await t.app.request("/v1/files", {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=b" },
      body,
      duplex: "half",
    } as RequestInit);
    await expectError(res, 400, null);
    expect(pulls).toBe(10);
    expectNothingStored();
  });

  describe("size limits", () => {
    const limits = { maxFileBytes: 64 * 1024, maxBatchFileBytes: 16 * 1024 };

    it("rejects a file over the limit with a 413 as soon as the limit is passed", async () => {
      const app = appWithLimits(limits);
      const res = await upload(
        [
          ["purpose", "user_data"],
          ["file", blob(new Uint8Array(64 * 1024 + 1)), "big.bin"],
        ],
        app,
      );
      expect(await expectError(res, 413, null)).toContain("File is too large");
      expectNothingStored();
    });

    it("accepts a file of exactly the limit", async () => {
      const app = appWithLimits(limits);
      const res = await upload(
        [
          ["purpose", "user_data"],
          ["file", blob(new Uint8Array(64 * 1024)), "fits.bin"],
        ],
        app,
      );
      expect(res.status, await res.clone().text()).toBe(200);
      expect(((await res.json()) as FileBody).bytes).toBe(64 * 1024);
    });

    it("applies the batch limit whether purpose comes before or after the file", async () => {
      const app = appWithLimits(limits);
      const content = blob(new Uint8Array(16 * 1024 + 1).fill(0x41));
      const before = await upload(
        [
          ["purpose", "batch"],
          ["file", content, "input.jsonl"],
        ],
        app,
      );
      expect(await expectError(before, 413, null)).toContain("Batch input files");
      const after = await upload(
        [
          ["file", content, "input.jsonl"],
          ["purpose", "batch"],
        ],
        app,
      );
      expect(await expectError(after, 413, null)).toContain("Batch input files");
      expectNothingStored();
      const userData = await upload(
        [
          ["file", content, "input.jsonl"],
          ["purpose", "user_data"],
        ],
        app,
      );
      expect(userData.status, await userData.clone().text()).toBe(200);
    });
  });
});

describe("GET /v1/files/:id", () => {
  it("returns the File object", async () => {
    const created = await uploadOk("a.txt", "abc");
    const res = await t.app.request(`/v1/files/${created.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(created);
  });

  it("answers 404 in the envelope for an unknown id", async () => {
    const res = await t.app.request("/v1/files/file-missing");
    expect(await expectError(res, 404, null)).toBe("No such File object: file-missing");
    expect(res.headers.get("x-should-retry")).toBe("false");
  });

  it("does not read outside the files dir for an id with a path in it", async () => {
    writeFileSync(path.join(t.config.dataDir, "secret"), "s3cret");
    const res = await t.app.request("/v1/files/..%2Fsecret/content");
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain("s3cret");
  });
});

describe("GET /v1/files", () => {
  async function list(query: string): Promise<FileList> {
    const res = await t.app.request(`/v1/files${query}`);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as FileList;
  }

  it("returns an empty list with has_more false", async () => {
    expect(await list("")).toEqual({
      object: "list",
      data: [],
      first_id: null,
      last_id: null,
      has_more: false,
    });
  });

  it("pages newest first with after and limit, and oldest first with order=asc", async () => {
    const created: FileBody[] = [];
    for (let index = 0; index < 5; index += 1) {
      created.push(await uploadOk(`f${index}.txt`, `file ${index}`));
    }
    const ids = created.map((file) => file.id);
    const newestFirst = [...ids].reverse();

    const all = await list("");
    expectMatchesComponent("ListFilesResponse", all);
    expect(all.data.map((file) => file.id)).toEqual(newestFirst);
    expect(all.has_more).toBe(false);

    const first = await list("?limit=2");
    expect(first.data.map((file) => file.id)).toEqual(newestFirst.slice(0, 2));
    expect(first).toMatchObject({
      first_id: newestFirst[0],
      last_id: newestFirst[1],
      has_more: true,
    });
    const second = await list(`?limit=2&after=${first.last_id}`);
    expect(second.data.map((file) => file.id)).toEqual(newestFirst.slice(2, 4));
    expect(second.has_more).toBe(true);
    const third = await list(`?limit=2&after=${second.last_id}`);
    expect(third.data.map((file) => file.id)).toEqual(newestFirst.slice(4));
    expect(third.has_more).toBe(false);

    const ascending = await list("?order=asc&limit=3");
    expect(ascending.data.map((file) => file.id)).toEqual(ids.slice(0, 3));
    expect(ascending.has_more).toBe(true);
    const ascRest = await list(`?order=asc&limit=3&after=${ids[2]}`);
    expect(ascRest.data.map((file) => file.id)).toEqual(ids.slice(3));
    expect(ascRest.has_more).toBe(false);
  });

  it("orders files created in the same second by id, without gaps or repeats", async () => {
    for (let index = 0; index < 7; index += 1) {
      const res = await upload([
        ["purpose", "user_data"],
        ["file", blob("x"), `same-${index}.txt`],
      ]);
      expect(res.status).toBe(200);
    }
    const seen: string[] = [];
    let after = "";
    for (let page = 0; page < 10; page += 1) {
      const body = await list(`?limit=3${after}`);
      seen.push(...body.data.map((file) => file.id));
      if (!body.has_more) {
        break;
      }
      after = `&after=${body.data.at(-1)?.id}`;
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    expect(seen).toEqual([...seen].sort().reverse());
  });

  it("filters by purpose", async () => {
    const batch = await uploadOk("b.jsonl", "{}\n", "batch");
    await uploadOk("u.txt", "x", "user_data");
    const batch2 = await uploadOk("c.jsonl", "{}\n", "batch");
    const body = await list("?purpose=batch");
    expect(body.data.map((file) => file.id)).toEqual([batch2.id, batch.id]);
    const paged = await list(`?purpose=batch&after=${batch2.id}`);
    expect(paged.data.map((file) => file.id)).toEqual([batch.id]);
    expect((await list("?purpose=vision")).data).toEqual([]);
  });

  it("rejects a bad limit, order, purpose or cursor with a 400 naming it", async () => {
    await expectError(await t.app.request("/v1/files?limit=0"), 400, "limit");
    await expectError(await t.app.request("/v1/files?limit=10001"), 400, "limit");
    await expectError(await t.app.request("/v1/files?order=sideways"), 400, "order");
    await expectError(await t.app.request("/v1/files?purpose=fun"), 400, "purpose");
    await expectError(await t.app.request("/v1/files?after=file-nope"), 400, "after");
  });
});

describe("DELETE /v1/files/:id", () => {
  it("deletes the row and the bytes; the file is then a 404", async () => {
    const file = await uploadOk("a.txt", "abc");
    const res = await t.app.request(`/v1/files/${file.id}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toEqual({ id: file.id, object: "file", deleted: true });
    expectMatchesComponent("DeleteFileResponse", body);
    expect(existsSync(path.join(filesDir(), file.id))).toBe(false);
    await expectError(await t.app.request(`/v1/files/${file.id}`), 404, null);
    await expectError(await t.app.request(`/v1/files/${file.id}/content`), 404, null);
    const again = await t.app.request(`/v1/files/${file.id}`, { method: "DELETE" });
    await expectError(again, 404, null);
    expectNothingStored();
  });
});

describe("GET /v1/files/:id/content", () => {
  it("streams the bytes back unchanged, with length and disposition", async () => {
    const file = await uploadOk("input.jsonl", '{"a":1}\r\n{"b":"é"}\n', "batch");
    const res = await t.app.request(`/v1/files/${file.id}/content`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(res.headers.get("content-length")).toBe(String(file.bytes));
    expect(res.headers.get("content-disposition")).toBe(
      `attachment; filename="input.jsonl"; filename*=UTF-8''input.jsonl`,
    );
    expect(await res.text()).toBe('{"a":1}\r\n{"b":"é"}\n');
  });

  it("returns 5 MB of random bytes exactly as uploaded", async () => {
    const bytes = randomBytes(5 * 1024 * 1024);
    const file = await uploadOk("random.bin", bytes);
    expect(file.bytes).toBe(bytes.length);
    const res = await t.app.request(`/v1/files/${file.id}/content`);
    const returned = Buffer.from(await res.arrayBuffer());
    expect(returned.equals(bytes)).toBe(true);
    expect(readFileSync(path.join(filesDir(), file.id)).equals(bytes)).toBe(true);
  });

  it("answers 404 for an unknown id", async () => {
    await expectError(await t.app.request("/v1/files/file-missing/content"), 404, null);
  });
});

describe("files service", () => {
  async function* chunks(...parts: string[]): AsyncGenerator<string> {
    yield* parts;
  }

  async function collectLines(id: string): Promise<FileLine[]> {
    const lines: FileLine[] = [];
    for await (const line of t.services.files.readLines("default", id, { maxLineBytes: 1024 })) {
      lines.push(line);
    }
    return lines;
  }

  it("createFromStream writes a generated file the API serves", async () => {
    const file = await t.services.files.createFromStream("default", {
      filename: "batch_output.jsonl",
      purpose: "batch_output",
      expiresAt: START_MS / 1000 + 60,
      content: chunks('{"id":1}\n', '{"id":2}\n'),
    });
    expectMatchesComponent("OpenAIFile", file);
    expect(file).toMatchObject({ purpose: "batch_output", bytes: 18, expires_at: 1_750_000_060 });
    const res = await t.app.request(`/v1/files/${file.id}/content`);
    expect(await res.text()).toBe('{"id":1}\n{"id":2}\n');
  });

  it("createFromStream leaves nothing behind when the content fails", async () => {
    async function* failing(): AsyncGenerator<string> {
      yield "partial\n";
      throw new Error("output went wrong");
    }
    await expect(
      t.services.files.createFromStream("default", {
        filename: "out.jsonl",
        purpose: "batch_output",
        expiresAt: null,
        content: failing(),
      }),
    ).rejects.toThrow("output went wrong");
    expectNothingStored();
  });

  it("readLines numbers every line from 1, handling CRLF, blank lines and a BOM", async () => {
    const file = await t.services.files.createFromStream("default", {
      filename: "in.jsonl",
      purpose: "batch",
      expiresAt: null,
      content: chunks('\uFEFF{"a":1}\r\n', "\r\n", '{"b":', "2}\n", "   \n", '{"c":3}'),
    });
    expect(await collectLines(file.id)).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: "" },
      { line: 3, text: '{"b":2}' },
      { line: 4, text: "   " },
      { line: 5, text: '{"c":3}' },
    ]);
  });

  it("readLines throws the 404 before iterating", () => {
    expect(() =>
      t.services.files.readLines("default", "file-missing", { maxLineBytes: 1024 }),
    ).toThrow("No such File object: file-missing");
  });

  it("readLines and retrieve are scoped to the project", async () => {
    const file = await uploadOk("a.txt", "x");
    expect(() => t.services.files.retrieve("other-project", file.id)).toThrow("No such File");
    expect(t.services.files.list("other-project", { limit: 10, order: "desc" }).data).toEqual([]);
  });

  it("removeStaleTemp deletes leftover .part files only", async () => {
    const blobs = createFileBlobStore(filesDir());
    const kept = await uploadOk("a.txt", "x");
    await mkdir(path.join(filesDir(), "tmp"), { recursive: true });
    writeFileSync(path.join(filesDir(), "tmp", "file-crashed.part"), "half");
    expect(await blobs.removeStaleTemp()).toBe(1);
    expect(tempFiles()).toEqual([]);
    expect(storedBlobs()).toEqual([kept.id]);
  });

  it("a blob write fails cleanly when its source errors before being read", async () => {
    const blobs = createFileBlobStore(filesDir());
    const source = new Readable({ read() {} });
    const written = blobs.write("file-early", source, { maxBytes: 100 });
    source.destroy(new Error("gone before reading"));
    await expect(written).rejects.toBeInstanceOf(BlobSourceError);
    expect(tempFiles()).toEqual([]);
    expect(storedBlobs()).toEqual([]);
  });

  it("the blob store refuses ids and storage paths that leave the files dir", async () => {
    const blobs = createFileBlobStore(filesDir());
    await expect(blobs.write("../escape", Readable.from(["x"]), { maxBytes: 10 })).rejects.toThrow(
      "unsafe id",
    );
    await expect(blobs.openRead("files/../secret")).rejects.toThrow("outside");
    await expect(blobs.remove("../files/../../x")).rejects.toThrow("outside");
    expect(existsSync(path.join(t.config.dataDir, "escape"))).toBe(false);
  });

  it("listExpired finds files past their expires_at", async () => {
    const soon = await uploadOk("soon.txt", "x", "user_data", [
      ["expires_after[anchor]", "created_at"],
      ["expires_after[seconds]", "3600"],
    ]);
    await uploadOk("never.txt", "x");
    const store = createFileStore(t.db);
    expect(store.listExpired(soon.created_at + 3599, 10)).toEqual([]);
    expect(store.listExpired(soon.created_at + 3600, 10).map((row) => row.id)).toEqual([soon.id]);
  });
});
