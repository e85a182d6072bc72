import path from "node:path";
import Database from "better-sqlite3";
import OpenAI, { toFile } from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { mountSmallDisk, type SmallDisk, smallDiskUnavailable } from "../helpers/small-disk.js";

/**
 * The official SDK, with its default retries, against the real server (checkpoint worker
 * included) whose data dir is a full 4 MiB filesystem: it must get a final error, sent once.
 */
const SKIPPED = smallDiskUnavailable === null ? "" : ` (skipped: ${smallDiskUnavailable})`;

describe.skipIf(smallDiskUnavailable !== null)(`the openai SDK on a full disk${SKIPPED}`, () => {
  let disk: SmallDisk;
  let s: TestServer;
  beforeEach(async () => {
    disk = mountSmallDisk(4 * 1024 * 1024);
    s = await startTestServer({ dataDir: disk.dir });
  });
  afterEach(async () => {
    await s.close();
    disk.remove();
  });

  it("does not retry a DELETE that the full disk refused, and the file stays whole", async () => {
    let requests = 0;
    const openai = new OpenAI({
      baseURL: `${s.url}/v1`,
      apiKey: "sk-test",
      maxRetries: 2,
      fetch: (url, init) => {
        requests += 1;
        return fetch(url, init);
      },
    });
    const content = '{"custom_id":"a"}\n';
    const file = await openai.files.create({
      file: await toFile(Buffer.from(content), "input.jsonl"),
      purpose: "batch",
    });
    // No WAL page left to reuse (see test/hardening/full-disk.test.ts), then no page at all.
    const other = new Database(path.join(disk.dir, "ferry.db"));
    other.pragma("busy_timeout = 5000");
    other.pragma("wal_checkpoint(TRUNCATE)");
    other.close();
    disk.fill();

    requests = 0;
    const refused = await openai.files.delete(file.id).then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(refused).toBeInstanceOf(OpenAI.InternalServerError);
    expect(refused).toMatchObject({ status: 507, code: "insufficient_storage" });
    expect(requests).toBe(1);

    const retrieved = await openai.files.retrieve(file.id);
    expect(retrieved.id).toBe(file.id);
    expect(await (await openai.files.content(file.id)).text()).toBe(content);

    disk.free();
    expect(await openai.files.delete(file.id)).toMatchObject({ id: file.id, deleted: true });
  });
});
