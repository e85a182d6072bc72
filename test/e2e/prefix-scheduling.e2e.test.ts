import { toFile } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { startTestServer } from "../helpers/server.js";
import { type FakeUpstream, startFakeUpstream } from "../helpers/upstream.js";

/**
 * Prefix-aware batch scheduling, as an inference server sees it: a batch whose lines share four
 * system prompts, shuffled, run through ferry against a real HTTP upstream with four slots. The
 * upstream's request order is what decides its KV-cache reuse: with scheduling on, lines sharing
 * a system prompt arrive one after another; with it off, in the file's (shuffled) order. Either
 * way the output file has every line once, in input order.
 */

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) {
    await thing.close();
  }
});

const PROMPTS = ["grader", "translator", "summariser", "classifier"].map(
  (role) => `You are a careful ${role}. ${"Follow the house rubric to the letter. ".repeat(40)}`,
);
const LINES = 400;
/** 400 calls through four slots take seconds alone and over a minute on a loaded shared host. */
const BATCH_TIMEOUT_MS = 150_000;
const TEST_TIMEOUT_MS = BATCH_TIMEOUT_MS + 30_000;

/** A fixed shuffle (mulberry32), so every run sees the same submission order. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/** How often consecutive prompts differ. */
function switchesIn(prompts: readonly string[]): number {
  let switches = 0;
  for (let i = 1; i < prompts.length; i++) {
    if (prompts[i] !== prompts[i - 1]) {
      switches++;
    }
  }
  return switches;
}

const submitted = shuffled(
  Array.from({ length: LINES }, (_, i) => PROMPTS[i % PROMPTS.length] as string),
  13,
);

async function runBatch(prefixScheduling: boolean) {
  // A few milliseconds per call, so the four slots are all busy and the claim order shows.
  const upstream: FakeUpstream = await startFakeUpstream(() => ({ kind: "default", delayMs: 3 }));
  open.push(upstream);
  const server = await startTestServer({
    config: {
      backends: [
        {
          type: "openai",
          name: "upstream",
          baseUrl: upstream.baseUrl,
          apiKey: "sk-upstream",
          models: ["*"],
          aliases: {},
          maxConcurrency: 4,
          timeoutMs: 10_000,
          headers: {},
        },
      ],
      batches: { prefixScheduling },
    },
  });
  open.push({ close: () => server.close({ removeData: true }) });

  const jsonl = submitted
    .map((system, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: "POST",
        url: "/v1/chat/completions",
        body: {
          model: "local-model",
          messages: [
            { role: "system", content: system },
            { role: "user", content: `question ${i}` },
          ],
        },
      }),
    )
    .join("\n");
  const file = await server.openai.files.create({
    file: await toFile(Buffer.from(jsonl), "prefixes.jsonl"),
    purpose: "batch",
  });
  const created = await server.openai.batches.create({
    input_file_id: file.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  const deadline = Date.now() + BATCH_TIMEOUT_MS;
  let batch = created;
  while (!["completed", "failed", "expired", "cancelled"].includes(batch.status)) {
    expect(Date.now(), "the batch should have finished").toBeLessThan(deadline);
    await new Promise((resolve) => setTimeout(resolve, 25));
    batch = await server.openai.batches.retrieve(created.id);
  }
  expect(batch.status).toBe("completed");
  expect(batch.request_counts).toEqual({ total: LINES, completed: LINES, failed: 0 });
  expect(upstream.maxInFlight()).toBeLessThanOrEqual(4);

  const seen = upstream.requests
    .filter((request) => request.path === "/v1/chat/completions")
    .map((request) => (request.body as { messages: { content: string }[] }).messages[0]?.content);
  expect(seen).toHaveLength(LINES);
  const output = (await (await server.openai.files.content(batch.output_file_id ?? "")).text())
    .trim()
    .split("\n")
    .map(
      (line) =>
        JSON.parse(line) as {
          custom_id: string;
          response: { body: { choices: { message: { content: string } }[] } };
        },
    );
  return { switches: switchesIn(seen as string[]), output };
}

function expectInputOrder(output: Awaited<ReturnType<typeof runBatch>>["output"]) {
  expect(output.map((line) => line.custom_id)).toEqual(
    Array.from({ length: LINES }, (_, i) => `line-${i}`),
  );
  output.forEach((line, i) => {
    expect(line.response.body.choices[0]?.message.content).toBe(`Echo: question ${i}`);
  });
}

describe("prefix-aware batch scheduling", () => {
  it(
    "sends lines sharing a system prompt together, and writes the output in input order",
    async () => {
      const inSubmissionOrder = switchesIn(submitted);
      expect(inSubmissionOrder).toBeGreaterThan(250);
      const { switches, output } = await runBatch(true);
      // Three switches are needed for four prompts; at each one, the calls of one claim may
      // reach the upstream in either order (at most four in flight).
      expect(
        switches,
        `switches seen by the upstream (${inSubmissionOrder} in the file)`,
      ).toBeLessThanOrEqual(3 * 4);
      expectInputOrder(output);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "keeps the submission order when batches.prefix_scheduling is off",
    async () => {
      const inSubmissionOrder = switchesIn(submitted);
      const { switches, output } = await runBatch(false);
      expect(switches).toBeGreaterThan(inSubmissionOrder * 0.7);
      expectInputOrder(output);
    },
    TEST_TIMEOUT_MS,
  );
});
