import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  collectOutput,
  spawnFerry,
  waitForExit,
  waitForListening,
} from "../helpers/spawn-ferry.js";
import { type FakeUpstream, startFakeUpstream } from "../helpers/upstream.js";

/**
 * kill -9 in the middle of 200 background responses, then a restart on the same data dir: every
 * response ends completed, and each recorded result comes from exactly one backend call (the
 * upstream numbers its answers, so a result recorded twice, or from two calls, would show).
 */

const TOTAL = 200;
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) {
    await cleanup();
  }
});

function numberedUpstream(): Promise<FakeUpstream> {
  let calls = 0;
  return startFakeUpstream(() => {
    calls++;
    return {
      kind: "json",
      delayMs: 40 + (calls % 5) * 10,
      body: {
        id: `chatcmpl-${calls}`,
        object: "chat.completion",
        created: 1,
        model: "m",
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: `call-${calls}` },
            finish_reason: "stop",
          },
        ],
        usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
      },
    };
  });
}

describe("crash recovery", () => {
  it("finishes every background response exactly once after a kill -9", async () => {
    const upstream = await numberedUpstream();
    cleanups.push(() => upstream.close());
    const dataDir = mkdtempSync(path.join(tmpdir(), "ferry-crash-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const configFile = path.join(dataDir, "ferry.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        backends: [
          {
            name: "upstream",
            type: "openai",
            base_url: upstream.baseUrl,
            models: ["*"],
            max_concurrency: 8,
          },
        ],
        // A short lease, so the restarted server takes over the dead one's work quickly.
        executor: { lease_ms: 500, poll_ms: 100 },
      }),
    );
    const env = { PORT: "0", FERRY_DATA_DIR: dataDir, FERRY_CONFIG: configFile };

    const first = spawnFerry(["serve"], env);
    cleanups.push(() => {
      first.kill("SIGKILL");
    });
    const firstUrl = await waitForListening(first);
    // All at once, so the queue is full long before the upstream has answered them all.
    const ids = await Promise.all(
      Array.from({ length: TOTAL }, async (_, i) => {
        const res = await fetch(`${firstUrl}/v1/responses`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "m", input: `request ${i}`, background: true }),
        });
        expect(res.status).toBe(200);
        return ((await res.json()) as { id: string }).id;
      }),
    );
    // Mid-run: some answered, most not.
    await upstream.waitForRequests(40);
    first.kill("SIGKILL");
    await waitForExit(first);
    const callsBeforeCrash = upstream.requests.length;
    expect(callsBeforeCrash).toBeLessThan(TOTAL);

    const second = spawnFerry(["serve"], env);
    const output = collectOutput(second);
    cleanups.push(async () => {
      second.kill("SIGTERM");
      await waitForExit(second);
    });
    const secondUrl = await waitForListening(second);

    const finalTexts = new Map<string, string>();
    const deadline = Date.now() + 60_000;
    while (finalTexts.size < TOTAL && Date.now() < deadline) {
      for (const id of ids) {
        if (finalTexts.has(id)) {
          continue;
        }
        const response = (await (await fetch(`${secondUrl}/v1/responses/${id}`)).json()) as {
          status: string;
          output: { content: { text: string }[] }[];
        };
        expect(["queued", "in_progress", "completed"], output.text()).toContain(response.status);
        if (response.status === "completed") {
          expect(response.output).toHaveLength(1);
          finalTexts.set(id, response.output[0]?.content[0]?.text ?? "");
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    expect(finalTexts.size, `completed ${finalTexts.size} of ${TOTAL}`).toBe(TOTAL);
    const recordedCalls = [...finalTexts.values()];
    // Each recorded result is one distinct upstream call: none recorded twice.
    expect(new Set(recordedCalls).size).toBe(TOTAL);
    for (const text of recordedCalls) {
      const call = Number(/^call-(\d+)$/.exec(text)?.[1]);
      expect(call).toBeGreaterThan(0);
      expect(call).toBeLessThanOrEqual(upstream.requests.length);
    }
    // Calls in flight at the crash ran again: at-least-once toward the backend.
    expect(upstream.requests.length).toBeGreaterThanOrEqual(TOTAL);
  }, 120_000);
});
