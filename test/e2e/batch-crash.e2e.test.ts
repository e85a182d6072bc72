import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createBatchOverHttp } from "../helpers/batch-over-http.js";
import { spawnFerry, waitForExit, waitForListening } from "../helpers/spawn-ferry.js";

/**
 * A batch of 300 lines through several kill -9s at random moments (validating, running,
 * finalizing), each followed by a restart on the same data dir: at the end every line is
 * answered exactly once across the output and error files.
 */

const LINES = 300;
const children: ChildProcess[] = [];
const dataDir = mkdtempSync(path.join(tmpdir(), "ferry-batch-crash-"));
afterAll(async () => {
  for (const child of children) {
    child.kill("SIGKILL");
  }
  rmSync(dataDir, { recursive: true, force: true });
});

function start(): Promise<{ child: ChildProcess; url: string }> {
  const configFile = path.join(dataDir, "ferry.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      // Four at a time, 20 ms each: the batch takes about 1.5 s, long enough to be cut.
      backends: [{ name: "mock", type: "mock", models: ["*"], max_concurrency: 4 }],
      executor: { lease_ms: 400, poll_ms: 50 },
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

async function batchStatus(url: string, id: string) {
  return (await (await fetch(`${url}/v1/batches/${id}`)).json()) as {
    status: string;
    output_file_id?: string;
    error_file_id?: string;
    request_counts: { total: number; completed: number; failed: number };
  };
}

async function fileLines(url: string, id: string | undefined): Promise<{ custom_id: string }[]> {
  if (id === undefined) {
    return [];
  }
  const text = await (await fetch(`${url}/v1/files/${id}/content`)).text();
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as { custom_id: string });
}

describe("batch crash safety", () => {
  it("answers every line exactly once through repeated kill -9s", async () => {
    let server = await start();
    const jsonl = Array.from({ length: LINES }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: "POST",
        url: "/v1/chat/completions",
        body: {
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: `q${i}` }],
          metadata: { mock_delay_ms: "20" },
        },
      }),
    ).join("\n");
    const { batchId } = await createBatchOverHttp(server.url, jsonl, {
      filename: "crash.jsonl",
      endpoint: "/v1/chat/completions",
    });

    // Kill at moments spread over the run; the first is right after the create (validating).
    const seenAtKill: { status: string; completed: number }[] = [];
    for (const delayMs of [5, 300, 450, 600]) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const before = await batchStatus(server.url, batchId);
      seenAtKill.push({ status: before.status, completed: before.request_counts.completed });
      server.child.kill("SIGKILL");
      await waitForExit(server.child);
      server = await start();
    }

    // The kills did land mid-run, with some lines answered and others not.
    expect(
      seenAtKill.some(
        (seen) => seen.status === "in_progress" && seen.completed > 0 && seen.completed < LINES,
      ),
      JSON.stringify(seenAtKill),
    ).toBe(true);

    const deadline = Date.now() + 60_000;
    let batch = await batchStatus(server.url, batchId);
    while (batch.status !== "completed" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      batch = await batchStatus(server.url, batchId);
    }
    expect(batch.status).toBe("completed");
    expect(batch.request_counts).toEqual({ total: LINES, completed: LINES, failed: 0 });
    const answered = [
      ...(await fileLines(server.url, batch.output_file_id)),
      ...(await fileLines(server.url, batch.error_file_id)),
    ];
    expect(answered).toHaveLength(LINES);
    expect(new Set(answered.map((line) => line.custom_id)).size).toBe(LINES);
    server.child.kill("SIGTERM");
    await waitForExit(server.child);
  }, 120_000);
});
