import { existsSync, readdirSync } from "node:fs";
import { type ClientRequest, type IncomingMessage, request } from "node:http";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_MAX_BATCH_LINE_BYTES } from "../../src/config.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** Batch ingest over a real socket: what a hostile or unlucky client can do to the process. */
let s: TestServer;
let logs: { level: number; msg: string; requestId?: string }[] = [];
beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line !== "") {
          logs.push(JSON.parse(line) as (typeof logs)[number]);
        }
      }
      done();
    },
  });
  s = await startTestServer({ logger: pino({ level: "debug" }, sink) });
});
afterAll(async () => {
  await s.close({ removeData: true });
});
beforeEach(() => {
  logs = [];
});

const PINO_WARN = 40;

/** Polls the server's state, which changes after the socket closes. */
async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const filesDir = () => path.join(s.dataDir, "files");
const tempFiles = () => {
  const dir = path.join(filesDir(), "tmp");
  return existsSync(dir) ? readdirSync(dir) : [];
};
const storedBlobs = () =>
  existsSync(filesDir()) ? readdirSync(filesDir()).filter((name) => name !== "tmp") : [];

/** What is stored now: batches, file rows, bytes on disk. */
async function stored() {
  return {
    batches: (await s.openai.batches.list()).data.map((batch) => batch.id),
    files: (await s.openai.files.list()).data.map((file) => file.id),
    blobs: storedBlobs().sort(),
    temp: tempFiles(),
  };
}

function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (part: string) => {
      text += part;
    });
    res.on("end", () => resolve(text));
    res.on("error", reject);
  });
}

/** Writes `total` bytes of `fill` after `head`, honouring backpressure, until a response comes. */
async function writeUntilAnswered(
  req: ClientRequest,
  head: string,
  fill: Buffer,
  total: number,
  answered: () => boolean,
): Promise<void> {
  req.write(head);
  let sent = head.length;
  while (sent < total && !answered() && !req.destroyed) {
    const piece = fill.subarray(0, Math.min(fill.length, total - sent));
    sent += piece.length;
    if (!req.write(piece)) {
      await new Promise<void>((resolve) => {
        req.once("drain", resolve);
        req.once("close", resolve);
      });
    }
  }
}

describe("POST /v1/batches with a JSONL body over a real socket", () => {
  it("answers a line just over the default bound with a 400 naming it, and keeps serving", async () => {
    const before = await stored();
    const head =
      '{"custom_id":"big","method":"POST","url":"/v1/chat/completions",' +
      '"body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"';
    let response: IncomingMessage | null = null;
    const req = request(`${s.url}/v1/batches`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson", "transfer-encoding": "chunked" },
    });
    // Once the server has answered it may close the connection while we still write.
    req.on("error", () => {});
    const answer = new Promise<IncomingMessage>((resolve) =>
      req.once("response", (res) => {
        response = res;
        resolve(res);
      }),
    );
    await writeUntilAnswered(
      req,
      head,
      Buffer.alloc(1024 * 1024, "x"),
      DEFAULT_MAX_BATCH_LINE_BYTES + 1,
      () => response !== null,
    );
    if (response === null) {
      req.end(); // the whole line sent, with no newline
    }
    const res = await answer;
    const text = await readText(res);
    req.destroy();
    expect(res.statusCode, text).toBe(400);
    const body = JSON.parse(text) as { error: { message: string; type: string } };
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.message).toContain("Line 1");
    expect(logs.filter((entry) => entry.level >= PINO_WARN)).toEqual([]);
    await waitFor(() => tempFiles().length === 0);
    expect(await stored()).toEqual(before);
    // Still serving, and still taking batches.
    const small = await fetch(`${s.url}/v1/batches?model=gpt-4o-mini`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: '{"content": "still here"}\n',
    });
    expect(small.status, await small.clone().text()).toBe(200);
    const created = (await small.json()) as { id: string };
    // Settled, so that its output file is there before the next test looks.
    for (let round = 0; round < 500; round++) {
      if ((await s.openai.batches.retrieve(created.id)).status === "completed") {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect((await s.openai.batches.retrieve(created.id)).status).toBe("completed");
  });
});

describe("a client that aborts its upload mid-body", () => {
  async function abortMidBody(path: string, contentType: string, head: string): Promise<void> {
    const req = request(`${s.url}${path}`, {
      method: "POST",
      headers: { "content-type": contentType, "content-length": String(64 * 1024 * 1024) },
    });
    const failed = new Promise<void>((resolve) => req.once("error", () => resolve()));
    req.write(head);
    const filler = Buffer.from(`${'{"content": "filler"}\n'.repeat(4096)}`);
    req.write(filler);
    // The server is writing the temp file; then the client vanishes.
    await waitFor(() => tempFiles().length > 0);
    req.destroy();
    await failed;
    await waitFor(() => tempFiles().length === 0 && logs.some((entry) => entry.requestId));
  }

  it("is logged at info, not as a server error, and leaves no batch, file or bytes (JSONL)", async () => {
    const before = await stored();
    await abortMidBody("/v1/batches?model=gpt-4o-mini", "application/x-ndjson", "");
    expect(logs.filter((entry) => entry.level >= PINO_WARN)).toEqual([]);
    expect(logs.filter((entry) => entry.requestId !== undefined)).toEqual([
      expect.objectContaining({ level: 30, msg: expect.stringContaining("client") }),
    ]);
    expect(await stored()).toEqual(before);
  });

  it("is logged at info, not as a server error, and leaves no file row or bytes (multipart)", async () => {
    const before = await stored();
    const boundary = "cut-short";
    await abortMidBody(
      "/v1/files",
      `multipart/form-data; boundary=${boundary}`,
      `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n\r\n`,
    );
    expect(logs.filter((entry) => entry.level >= PINO_WARN)).toEqual([]);
    expect(logs.filter((entry) => entry.requestId !== undefined)).toEqual([
      expect.objectContaining({ level: 30, msg: expect.stringContaining("client") }),
    ]);
    expect(await stored()).toEqual(before);
  });
});
