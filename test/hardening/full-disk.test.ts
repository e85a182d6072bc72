import { readdirSync } from "node:fs";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createWorkStore } from "../../src/store/work-items.js";
import { bearer } from "../auth/auth-helpers.js";
import { mountSmallDisk, type SmallDisk, smallDiskUnavailable } from "../helpers/small-disk.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

/**
 * The data dir (database and files) on a real 4 MiB filesystem, filled to the brim at the
 * dangerous moment. Every refused write must answer 507 with OpenAI's envelope and
 * `x-should-retry: false`, leave nothing half-written, and work again once space is freed,
 * without a restart.
 *
 * SQLite's WAL can make "full" subtle: a commit may land in WAL pages the file already has. So
 * `fillDisk()` truncates the WAL first; then any commit needs a page the disk does not have.
 * Each test asserts which error it met (the logged `code`: SQLITE_FULL from SQLite, ENOSPC from
 * node:fs), so none can pass by never reaching the full disk.
 */

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const MB = 1024 * 1024;
const DISK_BYTES = 4 * MB;
const PAGE_BYTES = 4096;
// Room for the database's three files and a test's few stored files, and quick to use up.
const DISK_INODES = 64;
const MODEL = "gpt-4o-mini";
const LINE = `${JSON.stringify({
  custom_id: "a",
  method: "POST",
  url: "/v1/chat/completions",
  body: { model: MODEL, messages: [{ role: "user", content: "hi" }] },
})}\n`;
const SKIPPED = smallDiskUnavailable === null ? "" : ` (skipped: ${smallDiskUnavailable})`;

describe.skipIf(smallDiskUnavailable !== null)(`a full data dir${SKIPPED}`, () => {
  let disk: SmallDisk;
  let t: TestContext;
  let logLines: string[];

  beforeEach(() => {
    disk = mountSmallDisk(DISK_BYTES, { inodes: DISK_INODES });
    logLines = [];
    t = createTestContext({
      config: { dataDir: disk.dir, databasePath: path.join(disk.dir, "ferry.db") },
      logger: pino({ level: "warn" }, { write: (line: string) => logLines.push(line) }),
    });
  });
  afterEach(async () => {
    await t.close();
    disk.remove();
  });

  /** Leaves no free page, and no WAL page to reuse: SQLite's next commit must grow the WAL. */
  function fillDisk(): void {
    t.db.$client.pragma("wal_checkpoint(TRUNCATE)");
    disk.fill();
  }

  function upload(text: string, purpose = "batch", headers: Record<string, string> = {}) {
    const form = new FormData();
    form.append("purpose", purpose);
    form.append("file", new Blob([text]), "input.jsonl");
    return t.app.request("/v1/files", { method: "POST", body: form, headers });
  }

  async function expectOk<T>(res: Response | Promise<Response>): Promise<T> {
    const resolved = await res;
    const text = await resolved.text();
    expect(resolved.status, text).toBe(200);
    return JSON.parse(text) as T;
  }

  /** A 507 in OpenAI's envelope that the SDKs do not retry, caused by `code` (as logged). */
  async function expectStorageFull(res: Response | Promise<Response>, code: string) {
    const resolved = await res;
    const text = await resolved.text();
    expect(resolved.status, text).toBe(507);
    expect(resolved.headers.get("x-should-retry")).toBe("false");
    expect(JSON.parse(text) as ErrorBody).toEqual({
      error: {
        message: expect.stringContaining("storage is full"),
        type: "server_error",
        param: null,
        code: "insufficient_storage",
      },
    });
    const logged = logLines.map(
      (line) => JSON.parse(line) as { msg: string; err?: { code?: string } },
    );
    expect(logged.at(-1)).toMatchObject({ msg: "storage is full", err: { code } });
  }

  /** Bytes stored under the files dir: complete files and uploads in progress. */
  function storedBlobs(): string[] {
    const entries = readdirSync(path.join(disk.dir, "files"), {
      recursive: true,
      withFileTypes: true,
    });
    return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
  }

  const count = (table: string) =>
    (t.db.$client.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

  it("DELETE /v1/files/{id} answers 507 and keeps the file whole when the deletion cannot commit", async () => {
    const { id } = await expectOk<{ id: string }>(upload(LINE));
    fillDisk();

    await expectStorageFull(t.app.request(`/v1/files/${id}`, { method: "DELETE" }), "SQLITE_FULL");
    expect(count("files")).toBe(1);
    await expectOk(t.app.request(`/v1/files/${id}`));
    const content = await t.app.request(`/v1/files/${id}/content`);
    expect(content.status).toBe(200);
    expect(await content.text()).toBe(LINE);

    disk.free();
    expect(await expectOk(t.app.request(`/v1/files/${id}`, { method: "DELETE" }))).toEqual({
      id,
      object: "file",
      deleted: true,
    });
    expect((await t.app.request(`/v1/files/${id}`)).status).toBe(404);
    expect(storedBlobs()).toEqual([]);
  });

  it("POST /v1/files answers 507 when the bytes do not fit, leaving no row and no bytes", async () => {
    fillDisk();
    await expectStorageFull(upload("x".repeat(64 * 1024), "user_data"), "ENOSPC");
    expect(count("files")).toBe(0);
    expect(storedBlobs()).toEqual([]);

    disk.free();
    const { id } = await expectOk<{ id: string }>(upload(LINE));
    expect(await (await t.app.request(`/v1/files/${id}/content`)).text()).toBe(LINE);
  });

  it("POST /v1/files answers 507 when the bytes fit but the row does not, and removes the bytes", async () => {
    fillDisk();
    // One page back: room for a small file's bytes, none for the WAL frames of its row.
    disk.free(PAGE_BYTES);
    await expectStorageFull(upload(LINE), "SQLITE_FULL");
    expect(count("files")).toBe(0);
    expect(storedBlobs()).toEqual([]);

    disk.free();
    await expectOk(upload(LINE));
    expect(count("files")).toBe(1);
  });

  it("POST /v1/files works again once space is freed when the files dir could not be made", async () => {
    fillDisk();
    // No inode left: not even the directory for uploads in progress can be created.
    disk.fillInodes();
    await expectStorageFull(upload(LINE), "ENOSPC");

    disk.free();
    await expectOk(upload(LINE));
    expect(count("files")).toBe(1);
  });

  it("POST /v1/batches answers 507 for a file id and for inline requests, creating nothing", async () => {
    const { id: inputFileId } = await expectOk<{ id: string }>(upload(LINE));
    fillDisk();
    const fromFile = {
      input_file_id: inputFileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    };
    const inline = {
      window: "24h",
      requests: [{ body: { model: MODEL, messages: [{ role: "user", content: "hi" }] } }],
    };
    await expectStorageFull(t.post("/v1/batches", fromFile), "SQLITE_FULL");
    await expectStorageFull(t.post("/v1/batches", inline), "ENOSPC");
    expect(count("batches")).toBe(0);
    expect(count("files")).toBe(1);
    expect(storedBlobs()).toEqual([inputFileId]);

    disk.free();
    await expectOk(t.post("/v1/batches", fromFile));
    await expectOk(t.post("/v1/batches", inline));
    expect(count("batches")).toBe(2);
  });

  it("POST /v1/responses answers 507 in the foreground and in the background, storing nothing", async () => {
    fillDisk();
    const foreground = { model: MODEL, input: "hi" };
    const background = { model: MODEL, input: "hi", background: true };
    await expectStorageFull(t.post("/v1/responses", foreground), "SQLITE_FULL");
    await expectStorageFull(t.post("/v1/responses", background), "SQLITE_FULL");
    expect(count("responses")).toBe(0);
    expect(count("work_items")).toBe(0);

    disk.free();
    const created = await expectOk<{ id: string }>(t.post("/v1/responses", foreground));
    await expectOk(t.app.request(`/v1/responses/${created.id}`));
    await expectOk(t.post("/v1/responses", background));
    expect(count("responses")).toBe(2);
  });

  it("a write with RETURNING outside a transaction throws when its commit fails", () => {
    const work = createWorkStore(t.db);
    const subjectId = "resp_full";
    const id = work.enqueue({
      kind: "response",
      subjectId,
      projectId: "default",
      lane: 0,
      ownerKey: "default",
      backend: "mock",
      payload: {},
      nowMs: 1,
    });
    fillDisk();
    expect(() => work.cancelSubject(subjectId, 2)).toThrow("database or disk is full");
    expect(work.find(id)?.status).toBe("queued");

    disk.free();
    expect(work.cancelSubject(subjectId, 2)).toBe(id);
    expect(work.find(id)?.status).toBe("cancelled");
  });

  it("still serves reads for a stored key first used on a full disk", async () => {
    const { id } = await expectOk<{ id: string }>(upload(LINE));
    const { key } = t.services.apiKeys.create({ projectId: "default", name: "reader" });
    fillDisk();
    // The key's first use records last_used_at, a write that cannot commit now.
    await expectOk(t.app.request(`/v1/files/${id}`, { headers: bearer(key) }));
    await expectOk(t.app.request(`/v1/files/${id}/content`, { headers: bearer(key) }));
    await expectStorageFull(upload(LINE, "batch", bearer(key)), "ENOSPC");
  });
});
