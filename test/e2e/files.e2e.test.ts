import { createHash, randomBytes } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  readdirSync,
  readFileSync,
} from "node:fs";
import { request } from "node:http";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** The official `openai` SDK against the real server over a real socket. */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close({ removeData: true });
});

const THIRTY_DAYS = 30 * 24 * 3600;
const BATCH_LINES = `${[1, 2]
  .map((n) =>
    JSON.stringify({
      custom_id: `req-${n}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model: "gpt-4o-mini", messages: [{ role: "user", content: `Hi ${n}` }] },
    }),
  )
  .join("\n")}\n`;

function blobPath(id: string): string {
  return path.join(s.dataDir, "files", id);
}

v8.setFlagsFromString("--expose_gc");
const collectGarbage = runInNewContext("gc") as () => void;

/** Polls a condition on the server's disk state, which changes after the socket closes. */
async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function memory(): { rss: number; live: number } {
  const usage = process.memoryUsage();
  return { rss: usage.rss, live: usage.heapUsed + usage.arrayBuffers };
}

/**
 * POSTs a file to /v1/files as multipart/form-data over node:http, streamed from disk, calling
 * `onProgress` after every 10 MB sent.
 */
async function postMultipart(
  filePath: string,
  filename: string,
  onProgress: () => void,
): Promise<OpenAI.FileObject> {
  const boundary = "ferry-e2e-boundary";
  const progressEvery = 10 * 1024 * 1024;
  async function* body(): AsyncGenerator<string | Buffer> {
    yield `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n`;
    yield `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n`;
    yield "Content-Type: application/octet-stream\r\n\r\n";
    let sentBytes = 0;
    let nextProgress = progressEvery;
    for await (const chunk of createReadStream(filePath)) {
      yield chunk as Buffer;
      sentBytes += (chunk as Buffer).length;
      if (sentBytes >= nextProgress) {
        nextProgress += progressEvery;
        onProgress();
      }
    }
    yield `\r\n--${boundary}--\r\n`;
  }
  const { status, text } = await new Promise<{ status: number; text: string }>(
    (resolve, reject) => {
      const req = request(
        `${s.url}/v1/files`,
        {
          method: "POST",
          headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (part: string) => {
            text += part;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      pipeline(body(), req).catch(reject);
    },
  );
  expect(status, text).toBe(200);
  return JSON.parse(text) as OpenAI.FileObject;
}

describe("files", () => {
  it("creates a batch file from toFile, retrieves it and reads its content", async () => {
    const created = await s.openai.files.create({
      file: await toFile(Buffer.from(BATCH_LINES), "requests.jsonl"),
      purpose: "batch",
    });
    expectMatchesComponent("OpenAIFile", created);
    expect(created).toMatchObject({
      object: "file",
      bytes: Buffer.byteLength(BATCH_LINES),
      filename: "requests.jsonl",
      purpose: "batch",
      status: "processed",
    });
    expect(created.id).toMatch(/^file-/);
    expect(created.expires_at).toBe(created.created_at + THIRTY_DAYS);
    expect(created._request_id).toMatch(/^req_/);

    const retrieved = await s.openai.files.retrieve(created.id);
    expectMatchesComponent("OpenAIFile", retrieved);
    expect(retrieved).toEqual(created);

    const content = await s.openai.files.content(created.id);
    expect(content.headers.get("content-type")).toBe("application/octet-stream");
    expect(await content.text()).toBe(BATCH_LINES);
  });

  it("creates a file from fs.createReadStream, named after the path's base name", async () => {
    const filePath = path.join(s.dataDir, "upload-source.txt");
    await pipeline(async function* () {
      yield "streamed from disk\n";
    }, createWriteStream(filePath));
    const created = await s.openai.files.create({
      file: createReadStream(filePath),
      purpose: "user_data",
    });
    expectMatchesComponent("OpenAIFile", created);
    expect(created).toMatchObject({ filename: "upload-source.txt", bytes: 19 });
    expect(created.expires_at).toBeUndefined();
    expect(readFileSync(blobPath(created.id), "utf8")).toBe("streamed from disk\n");
  });

  it("reflects expires_after in expires_at", async () => {
    const created = await s.openai.files.create({
      file: await toFile(Buffer.from("x"), "short-lived.txt"),
      purpose: "assistants",
      expires_after: { anchor: "created_at", seconds: 3600 },
    });
    expectMatchesComponent("OpenAIFile", created);
    expect(created.expires_at).toBe(created.created_at + 3600);
  });

  it("lists with auto-pagination over every page", async () => {
    const ids = new Set<string>();
    for (let index = 0; index < 5; index += 1) {
      const file = await s.openai.files.create({
        file: await toFile(Buffer.from(`image ${index}`), `image-${index}.png`),
        purpose: "vision",
      });
      ids.add(file.id);
    }
    const seen: string[] = [];
    for await (const file of s.openai.files.list({ limit: 2, purpose: "vision" })) {
      expectMatchesComponent("OpenAIFile", file);
      seen.push(file.id);
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen)).toEqual(ids);

    const firstPage = await s.openai.files.list({ limit: 2, purpose: "vision" });
    expect(firstPage.data).toHaveLength(2);
    expect(firstPage.has_more).toBe(true);
    const raw = await s.openai.files.list({ limit: 2, purpose: "vision" }).asResponse();
    expectMatchesComponent("ListFilesResponse", await raw.json());
  });

  it("deletes a file; it is then a NotFoundError and its bytes are gone", async () => {
    const created = await s.openai.files.create({
      file: await toFile(Buffer.from("bye"), "bye.txt"),
      purpose: "user_data",
    });
    expect(existsSync(blobPath(created.id))).toBe(true);
    const deleted = await s.openai.files.delete(created.id);
    expectMatchesComponent("DeleteFileResponse", deleted);
    expect(deleted).toMatchObject({ id: created.id, object: "file", deleted: true });
    expect(existsSync(blobPath(created.id))).toBe(false);

    const error = await s.openai.files.retrieve(created.id).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).message).toContain(
      `No such File object: ${created.id}`,
    );
    await expect(s.openai.files.content(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(s.openai.files.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("answers a bad upload with a BadRequestError naming the parameter", async () => {
    const error = await s.openai.files
      .create({ file: await toFile(Buffer.from("{}"), "input.json"), purpose: "batch" })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("file");
  });

  it("leaves no row and no bytes when the client disconnects mid-upload", async () => {
    const filesDir = path.join(s.dataDir, "files");
    const tempDir = path.join(filesDir, "tmp");
    const blobsBefore = readdirSync(filesDir).sort();
    const countBefore = (await s.openai.files.list()).data.length;

    const boundary = "cut-short";
    const req = request(`${s.url}/v1/files`, {
      method: "POST",
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    });
    const failed = new Promise<void>((resolve) => req.once("error", () => resolve()));
    req.write(
      `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n`,
    );
    req.write(randomBytes(1024 * 1024));
    // The server is writing the part file; then the client vanishes.
    await waitFor(() => existsSync(tempDir) && readdirSync(tempDir).length > 0);
    req.destroy();
    await failed;

    await waitFor(() => readdirSync(tempDir).length === 0);
    expect(readdirSync(filesDir).sort()).toEqual(blobsBefore);
    expect((await s.openai.files.list()).data).toHaveLength(countBefore);
  });

  it("streams a 50 MB upload to disk without holding it in memory", async () => {
    const size = 50 * 1024 * 1024;
    const sourcePath = path.join(s.dataDir, "big-upload.bin");
    const sent = createHash("sha256");
    await pipeline(async function* () {
      for (let offset = 0; offset < size; offset += 1024 * 1024) {
        const chunk = randomBytes(1024 * 1024);
        sent.update(chunk);
        yield chunk;
      }
    }, createWriteStream(sourcePath));

    // The server runs in this process, so its memory is this process's memory. The client is
    // node:http streaming from disk: the SDK's fetch (undici in Node 20) keeps every chunk of a
    // streamed request body alive until the request ends, which would hide what the server does.
    // A forced GC before each reading leaves only what is really held, not garbage.
    collectGarbage();
    const baseline = memory();
    let growth = { rss: 0, live: 0 };
    const created = await postMultipart(sourcePath, "big-upload.bin", () => {
      collectGarbage();
      const now = memory();
      growth = {
        rss: Math.max(growth.rss, now.rss - baseline.rss),
        live: Math.max(growth.live, now.live - baseline.live),
      };
    });
    expectMatchesComponent("OpenAIFile", created);
    expect(created.bytes).toBe(size);
    const mb = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
    const report = `rss grew by ${mb(growth.rss)}, live memory by ${mb(growth.live)}`;
    expect(growth.rss, report).toBeLessThan(40 * 1024 * 1024);
    expect(growth.live, report).toBeLessThan(40 * 1024 * 1024);

    const stored = createHash("sha256");
    for await (const chunk of createReadStream(blobPath(created.id))) {
      stored.update(chunk as Buffer);
    }
    expect(stored.digest("hex")).toBe(sent.digest("hex"));
  });
});
