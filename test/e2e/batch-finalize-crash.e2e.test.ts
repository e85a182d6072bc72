import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createBatchOverHttp } from "../helpers/batch-over-http.js";
import { spawnFerry, waitForExit, waitForListening } from "../helpers/spawn-ferry.js";

/**
 * A kill -9 at the most dangerous moment of finalisation: its output and error files are
 * written, its final transaction not yet run. The first process holds there (a test-only
 * fault-injection setting) and is killed; the restarted one finishes the batch. Afterwards the
 * batch has exactly one output and one error file, listed once in /v1/files and stored once on
 * disk, with every custom_id exactly once, and nothing else is left in the data dir.
 */

const LINES = 40;
const FAILING = new Set([3, 17, 29]);
const HOLD_LOG = "test fault injection: holding batch finalize before its commit";
const children: ChildProcess[] = [];
const dataDir = mkdtempSync(path.join(tmpdir(), "ferry-finalize-crash-"));
afterAll(async () => {
  for (const child of children) {
    child.kill("SIGKILL");
  }
  rmSync(dataDir, { recursive: true, force: true });
});

function start(options: { holdBeforeCommit: boolean }): Promise<{
  child: ChildProcess;
  url: string;
}> {
  const configFile = path.join(dataDir, "ferry.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      executor: { lease_ms: 400, poll_ms: 50 },
      batch_finalize: { test_hold_before_commit: options.holdBeforeCommit },
    }),
  );
  const child = spawnFerry(["serve"], {
    PORT: "0",
    FERRY_DATA_DIR: dataDir,
    FERRY_CONFIG: configFile,
  });
  children.push(child);
  return waitForListening(child).then((url) => ({ child, url }));
}

/** Resolves once the child logs a line containing `text` (it may already have). */
function waitForLog(child: ChildProcess, text: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => reject(new Error(`no '${text}' in: ${buffered}`)), timeoutMs);
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      if (buffered.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

type FileJson = { id: string; filename: string; purpose: string };

describe("batch finalisation through kill -9", () => {
  it("leaves exactly one output and one error file when killed before the final commit", async () => {
    let server = await start({ holdBeforeCommit: true });
    const held = waitForLog(server.child, HOLD_LOG);
    const jsonl = Array.from({ length: LINES }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: "POST",
        url: "/v1/chat/completions",
        body: {
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: `q${i}` }],
          ...(FAILING.has(i) ? { metadata: { mock_error: "400" } } : {}),
        },
      }),
    ).join("\n");
    const { inputFileId, batchId } = await createBatchOverHttp(server.url, jsonl, {
      filename: "finalize-crash.jsonl",
      endpoint: "/v1/chat/completions",
    });

    await held;
    server.child.kill("SIGKILL");
    await waitForExit(server.child);
    server = await start({ holdBeforeCommit: false });

    const deadline = Date.now() + 30_000;
    type BatchJson = { status: string; output_file_id?: string; error_file_id?: string };
    let batch: BatchJson = { status: "" };
    while (batch.status !== "completed" && Date.now() < deadline) {
      batch = (await (await fetch(`${server.url}/v1/batches/${batchId}`)).json()) as BatchJson;
      if (batch.status !== "completed") {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    expect(batch.status, dataDir).toBe("completed");

    const listed = (
      (await (await fetch(`${server.url}/v1/files?purpose=batch_output&limit=100`)).json()) as {
        data: FileJson[];
      }
    ).data;
    expect(listed.map((file) => file.filename).sort(), dataDir).toEqual([
      `${batchId}_error.jsonl`,
      `${batchId}_output.jsonl`,
    ]);
    expect(listed.map((file) => file.id).sort()).toEqual(
      [batch.output_file_id, batch.error_file_id].sort(),
    );

    const customIds: string[] = [];
    for (const id of [batch.output_file_id, batch.error_file_id]) {
      const text = await (await fetch(`${server.url}/v1/files/${id}/content`)).text();
      expect(text.endsWith("\n")).toBe(true);
      for (const line of text.split("\n").filter((l) => l !== "")) {
        customIds.push((JSON.parse(line) as { custom_id: string }).custom_id);
      }
    }
    expect(customIds.sort()).toEqual(Array.from({ length: LINES }, (_, i) => `line-${i}`).sort());

    // On disk: the input, the output and the error file, and no leftover bytes.
    const filesDir = path.join(dataDir, "files");
    const stored = readdirSync(filesDir, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => entry.name)
      .sort();
    expect(stored, dataDir).toEqual([inputFileId, ...listed.map((file) => file.id)].sort());
    const tempDir = path.join(filesDir, "tmp");
    expect(existsSync(tempDir) ? readdirSync(tempDir) : []).toEqual([]);

    server.child.kill("SIGTERM");
    await waitForExit(server.child);
  }, 60_000);
});
