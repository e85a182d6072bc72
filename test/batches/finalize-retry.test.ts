import { readdirSync } from "node:fs";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Clock } from "../../src/lib/clock.js";
import { createFileBlobStore, type FileBlobStore } from "../../src/store/file-blobs.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";
import { chatLine, createBatch, getBatch, readFileLines, uploadJsonl } from "./batch-helpers.js";

/**
 * Finalisation on a full disk: the fault is injected at the file-system boundary (the file
 * bytes' store answers ENOSPC, as a full disk does). The step is retried with a doubling
 * back-off, one warn line per attempt with the reason and no error-level stack trace, leaves
 * no bytes behind meanwhile, and succeeds once there is room again.
 */

const BASE_MS = 1_000;

let t: TestContext;
afterEach(() => t.close());

function enospc(): Error {
  return Object.assign(new Error("ENOSPC: no space left on device, write"), {
    code: "ENOSPC",
    errno: -28,
    syscall: "write",
  });
}

describe("batch finalisation on a full disk", () => {
  it("backs off, logs one warn line per attempt, and finishes once there is room", async () => {
    let nowMs = Date.now();
    const clock: Clock = { nowMs: () => nowMs };
    const logs: { level: number; msg: string; [key: string]: unknown }[] = [];
    const logger = pino(
      { level: "debug" },
      { write: (line: string) => logs.push(JSON.parse(line)) },
    );
    // How many more files fit on the disk; writes beyond fail with ENOSPC.
    let filesThatFit = Number.POSITIVE_INFINITY;
    let writeAttempts = 0;
    let filesDir = "";
    t = createTestContext({
      clock,
      logger,
      config: { batchFinalize: { retryBaseMs: BASE_MS, retryMaxMs: 60_000 } },
      blobs: (dir): FileBlobStore => {
        filesDir = dir;
        const real = createFileBlobStore(dir);
        return {
          ...real,
          async write(id, source, options) {
            writeAttempts++;
            if (filesThatFit <= 0) {
              throw enospc();
            }
            filesThatFit--;
            return real.write(id, source, options);
          },
        };
      },
    });
    const inputId = await uploadJsonl(t, [
      chatLine("ok-1", "one"),
      chatLine("bad", "two", { metadata: { mock_error: "400" } }),
      chatLine("ok-2", "three"),
    ]);
    const batch = await createBatch(t, {
      input_file_id: inputId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const { executor, supervisor } = t.services;
    await supervisor.sweep(); // validated
    executor.runOnce();
    await executor.drain();

    // Room for the output file only: the error file fails, and the output's bytes go again.
    filesThatFit = 1;
    await supervisor.sweep();
    expect((await getBatch(t, batch.id)).status).toBe("finalizing");
    const warnings = () => logs.filter((line) => line.msg.startsWith("batch step failed"));
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({
      level: 40,
      batchId: batch.id,
      attempt: 1,
      retryInMs: BASE_MS,
      code: "ENOSPC",
      reason: expect.stringContaining("no space left on device"),
    });
    expect(warnings()[0]?.err).toBeUndefined();
    expect(readdirSync(filesDir).filter((name) => name !== "tmp")).toEqual([inputId]);
    expect(readdirSync(path.join(filesDir, "tmp"))).toEqual([]);

    // Polls within the back-off do not try again.
    const attemptsSoFar = writeAttempts;
    nowMs += BASE_MS - 1;
    await supervisor.sweep();
    await supervisor.sweep();
    expect(writeAttempts).toBe(attemptsSoFar);
    expect(warnings()).toHaveLength(1);

    // The second attempt fails too, and the wait doubles.
    filesThatFit = 0;
    nowMs += 1;
    await supervisor.sweep();
    expect(writeAttempts).toBe(attemptsSoFar + 1);
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ attempt: 2, retryInMs: 2 * BASE_MS });
    nowMs += BASE_MS;
    await supervisor.sweep();
    expect(warnings()).toHaveLength(2);

    // Room again: the next attempt after the back-off finishes the batch.
    filesThatFit = Number.POSITIVE_INFINITY;
    nowMs += BASE_MS;
    await supervisor.sweep();
    const done = await getBatch(t, batch.id);
    expect(done.status).toBe("completed");
    expect(warnings()).toHaveLength(2);
    expect(logs.filter((line) => line.level >= 50)).toEqual([]);
    const output = await readFileLines(t, done.output_file_id);
    const errors = await readFileLines(t, done.error_file_id);
    expect(output.map((line) => line.custom_id).sort()).toEqual(["ok-1", "ok-2"]);
    expect(errors.map((line) => line.custom_id)).toEqual(["bad"]);
    expect(
      readdirSync(filesDir)
        .filter((name) => name !== "tmp")
        .sort(),
    ).toEqual([inputId, done.output_file_id, done.error_file_id].sort());
  });
});
