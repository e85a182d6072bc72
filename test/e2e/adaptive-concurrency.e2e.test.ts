import { toFile } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import type { BackendConfig } from "../../src/config.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { type FakeUpstream, openAIError, startFakeUpstream } from "../helpers/upstream.js";

/**
 * Adaptive concurrency and the interactive reserve, end to end: ferry in front of a real local
 * upstream with a capacity. Bounds are generous (the machine is shared); throughput figures are
 * the bench's (`npm run bench -- upstream`), never asserted here.
 */

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) {
    await thing.close();
  }
});

interface BackendHealth {
  name: string;
  in_flight: number;
  max_concurrency: number;
  concurrency_limit: number;
  adaptive: boolean;
  interactive_reserve: number;
}

async function health(server: TestServer): Promise<BackendHealth> {
  const body = (await (await fetch(`${server.url}/health`)).json()) as {
    backends: BackendHealth[];
  };
  return body.backends[0] as BackendHealth;
}

async function startWith(upstream: FakeUpstream, backend: Partial<BackendConfig>) {
  const server = await startTestServer({
    config: {
      backends: [
        {
          type: "openai",
          name: "gpu",
          baseUrl: upstream.baseUrl,
          apiKey: "sk-upstream",
          models: ["*"],
          aliases: {},
          maxConcurrency: 128,
          timeoutMs: 30_000,
          headers: {},
          ...backend,
        } as BackendConfig,
      ],
      retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 500 },
    },
  });
  open.push({ close: () => server.close({ removeData: true }) });
  return server;
}

async function submitBatch(server: TestServer, lines: number) {
  const text = Array.from({ length: lines }, (_, index) =>
    JSON.stringify({
      custom_id: `line-${index}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model: "m", messages: [{ role: "user", content: `question ${index}` }] },
    }),
  ).join("\n");
  const file = await server.openai.files.create({
    file: await toFile(Buffer.from(`${text}\n`), "batch.jsonl"),
    purpose: "batch",
  });
  return server.openai.batches.create({
    input_file_id: file.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
}

async function waitForBatch(server: TestServer, id: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await server.openai.batches.retrieve(id);
    if (["completed", "failed", "expired", "cancelled"].includes(batch.status)) {
      return batch;
    }
    if (Date.now() > deadline) {
      throw new Error(`batch still ${batch.status} after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("adaptive concurrency", () => {
  it("finds an upstream that answers 429 past 32 in flight, and no batch line fails for it", async () => {
    let upstream: FakeUpstream | null = null;
    let startedAtMs = 0;
    let maxInFlightAfterFirstSecond = 0;
    let refused = 0;
    upstream = await startFakeUpstream(() => {
      const inFlight = upstream?.inFlight() ?? 0; // this request included
      if (startedAtMs > 0 && Date.now() - startedAtMs > 1_000) {
        maxInFlightAfterFirstSecond = Math.max(maxInFlightAfterFirstSecond, inFlight);
      }
      if (inFlight > 32) {
        refused++;
        return {
          kind: "json",
          status: 429,
          body: openAIError("The server is overloaded.", {
            type: "rate_limit_error",
            code: "rate_limit_exceeded",
          }),
        };
      }
      return { kind: "default", delayMs: 20 };
    });
    open.push(upstream);
    const server = await startWith(upstream, { maxConcurrency: 128 });
    const before = await health(server);
    expect(before).toMatchObject({ adaptive: true, max_concurrency: 128 });
    expect(before.concurrency_limit).toBeLessThanOrEqual(128);

    startedAtMs = Date.now();
    const batch = await submitBatch(server, 1_500);
    const done = await waitForBatch(server, batch.id, 120_000);
    expect(done.status).toBe("completed");
    expect(done.request_counts).toMatchObject({ total: 1_500, completed: 1_500, failed: 0 });
    expect(done.error_file_id ?? null).toBeNull();

    const after = await health(server);
    expect(after.concurrency_limit).toBeGreaterThanOrEqual(16);
    expect(after.concurrency_limit).toBeLessThanOrEqual(48);
    // Past the first second the limit has found the knee: a burst overshoots by little.
    expect(maxInFlightAfterFirstSecond).toBeLessThanOrEqual(64);
    // Few calls were wasted on refusals (generous: the knee is met again now and then).
    expect(refused).toBeLessThan(1_500 * 0.2);
  }, 180_000);

  it("keeps room for a sync request while a 2,000-line batch fills a slow upstream", async () => {
    const CALL_MS = 200;
    const upstream = await startFakeUpstream(() => ({ kind: "default", delayMs: CALL_MS }));
    open.push(upstream);
    const server = await startWith(upstream, { maxConcurrency: 16 });
    const batch = await submitBatch(server, 2_000);
    // Wait until the batch holds every slot it may (the limit less the interactive reserve).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const now = await health(server);
      if (now.in_flight >= now.concurrency_limit - now.interactive_reserve && now.in_flight > 4) {
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(`the batch never filled the backend: ${JSON.stringify(now)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const latencies: number[] = [];
    for (let request = 0; request < 3; request++) {
      const startedAt = Date.now();
      const completion = await server.openai.chat.completions.create({
        model: "m",
        messages: [{ role: "user", content: "Are you there?" }],
      });
      latencies.push(Date.now() - startedAt);
      expect(completion.choices[0]?.message.content).toBe("Echo: Are you there?");
    }
    // Its own call (200 ms) and no wait behind the batch's 2,000 lines (at 16 in flight, a
    // wait in line would be seconds). Generous: two calls' time plus slack for a loaded machine.
    expect(Math.max(...latencies)).toBeLessThan(2 * CALL_MS + 600);
    expect((await server.openai.batches.retrieve(batch.id)).status).toBe("in_progress");
    await server.openai.batches.cancel(batch.id);
  }, 120_000);
});
