import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, describe, expect, it } from "vitest";
import {
  collectOutput,
  spawnFerry,
  waitForExit,
  waitForListening,
} from "../helpers/spawn-ferry.js";
import { chatChunk, type FakeUpstream, startFakeUpstream } from "../helpers/upstream.js";
import { assembleText, readSseEvents, type StreamEvent } from "./sse-reader.js";

/**
 * kill -9 in the middle of a streamed background response, a restart on the same data dir, and
 * a client resuming with `starting_after` = the last event it saw. The response runs again (the
 * upstream answers the second call with another text), and the resumed stream must not mix the
 * two: its numbers go on after the ones the client has, it opens with response.in_progress (a
 * new attempt: start the text afresh), and it ends with the response.completed that GET returns.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) {
    await cleanup();
  }
});

const WORDS_PER_ANSWER = 40;

/** Every call streams its own text (`call-<n> word-<i> …`), slowly enough to crash mid-way. */
function numberedStreamingUpstream(): Promise<FakeUpstream> {
  let calls = 0;
  return startFakeUpstream(() => {
    calls++;
    const words = Array.from({ length: WORDS_PER_ANSWER }, (_, i) => `call-${calls}-word-${i} `);
    return {
      kind: "sse",
      frameDelayMs: 25,
      frames: [
        chatChunk({ role: "assistant", content: "" }),
        ...words.map((word) => chatChunk({ content: word })),
        chatChunk({ finishReason: "stop" }),
      ],
    };
  });
}

interface RetrievedResponse {
  status: string;
  output: { content: { text: string }[] }[];
}

describe("resuming a background stream after a crash", () => {
  it("continues the numbering, declares the new attempt and never mixes two texts", async () => {
    const upstream = await numberedStreamingUpstream();
    cleanups.push(() => upstream.close());
    const dataDir = mkdtempSync(path.join(tmpdir(), "ferry-resume-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const configFile = path.join(dataDir, "ferry.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        backends: [{ name: "upstream", type: "openai", base_url: upstream.baseUrl, models: ["*"] }],
        // A short lease, so the restarted server takes the dead one's work over quickly.
        executor: { lease_ms: 1000, poll_ms: 50 },
      }),
    );
    const env = { PORT: "0", FERRY_DATA_DIR: dataDir, FERRY_CONFIG: configFile };

    const first = spawnFerry(["serve"], env);
    cleanups.push(() => {
      first.kill("SIGKILL");
    });
    const firstUrl = await waitForListening(first);
    const created = await fetch(`${firstUrl}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", input: "count", background: true, stream: true }),
    });
    expect(created.status).toBe(200);
    if (created.body === null) {
      throw new Error("no body");
    }
    const beforeCrash = readSseEvents(created.body);
    let deltas = 0;
    await beforeCrash.until(
      (event) => event.type === "response.output_text.delta" && ++deltas >= 5,
    );
    first.kill("SIGKILL");
    await waitForExit(first);
    await beforeCrash.rest(); // whatever was in flight when the process died
    const seen = beforeCrash.seen;
    const id = seen[0]?.response?.id ?? "";
    const lastSeen = seen.at(-1)?.sequence_number ?? -1;
    expect(assembleText(seen)).toMatch(/^call-1-word-0 /);

    const second = spawnFerry(["serve"], env);
    const output = collectOutput(second);
    cleanups.push(async () => {
      second.kill("SIGTERM");
      await waitForExit(second);
    });
    const secondUrl = await waitForListening(second);
    const resumedRes = await fetch(
      `${secondUrl}/v1/responses/${id}?stream=true&starting_after=${lastSeen}`,
    );
    expect(resumedRes.status, output.text()).toBe(200);
    if (resumedRes.body === null) {
      throw new Error("no body");
    }
    const resumed = await readSseEvents(resumedRes.body).rest();
    const retrieved = (await (
      await fetch(`${secondUrl}/v1/responses/${id}`)
    ).json()) as RetrievedResponse;
    expect(retrieved.status, output.text()).toBe("completed");
    const storedText = retrieved.output[0]?.content[0]?.text ?? "";
    expect(storedText).toMatch(/^call-2-word-0 /);

    // One strictly increasing numbering across what the client saw and what it resumed.
    const numbers = [...seen, ...resumed].map((event) => event.sequence_number);
    for (const [index, number] of numbers.entries()) {
      if (index > 0) {
        expect(number).toBeGreaterThan(numbers[index - 1] ?? -1);
      }
    }
    // The new attempt is declared before any of its text, and its text alone is assembled.
    expect(resumed[0]?.type).toBe("response.in_progress");
    expect(resumed[0]?.response?.output).toEqual([]);
    expect(assembleText([...seen, ...resumed])).toBe(storedText);
    const terminal = resumed.at(-1) as StreamEvent;
    expect(terminal.type).toBe("response.completed");
    expect(terminal.response).toEqual(retrieved);

    // The SDK's resume helper (a full replay, filtered after starting_after) agrees, and the
    // replay holds one generation only.
    const openai = new OpenAI({ baseURL: `${secondUrl}/v1`, apiKey: "sk-test", maxRetries: 0 });
    const sdkStream = openai.responses.stream({ response_id: id, starting_after: lastSeen });
    const sdkEvents: { sequence_number: number }[] = [];
    for await (const event of sdkStream) {
      sdkEvents.push(event);
    }
    expect(sdkEvents.map((event) => event.sequence_number)).toEqual(
      resumed.map((event) => event.sequence_number),
    );
    expect((await sdkStream.finalResponse()).output_text).toBe(storedText);
    const replay = await fetch(`${secondUrl}/v1/responses/${id}?stream=true`);
    expect(await replay.text()).not.toContain("call-1-");
  }, 60_000);
});
