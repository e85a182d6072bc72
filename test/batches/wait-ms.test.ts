import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** GET /v1/batches/{id}?wait_ms= over a real socket, woken by the commit that ends the batch. */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ config: { limits: { maxConcurrentLongPolls: 2 } } });
});
afterAll(async () => {
  await s.close({ removeData: true });
});

interface BatchJson {
  id: string;
  status: string;
  /** Absent until the batch completes (optional in OpenAI's Batch). */
  completed_at?: number;
  request_counts: { total: number; completed: number; failed: number };
}

/** A one-line inline batch whose line the mock answers after `delayMs`. */
async function batch(delayMs: number): Promise<string> {
  const res = await fetch(`${s.url}/v1/batches`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      window: "24h",
      requests: [
        {
          body: {
            model: "gpt-4o-mini",
            messages: [{ role: "user", content: "hello" }],
            metadata: { mock_delay_ms: String(delayMs) },
          },
        },
      ],
    }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

async function get(id: string, query: string, signal?: AbortSignal) {
  const res = await fetch(`${s.url}/v1/batches/${id}?${query}`, signal ? { signal } : {});
  return {
    status: res.status,
    body: (await res.json()) as BatchJson & { error?: { param?: string } },
  };
}

const cancel = (id: string) => fetch(`${s.url}/v1/batches/${id}/cancel`, { method: "POST" });

describe("GET /v1/batches/{id}?wait_ms=", () => {
  it("answers as soon as the batch completes, not at the deadline", async () => {
    const id = await batch(400);
    // A plain GET every 10 ms marks when the completion became visible; the long poll must
    // answer within a few tens of milliseconds of that (a wide margin: two shared cores).
    const seen: { completedAt: number | null } = { completedAt: null };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const { body } = await get(id, "");
        if (body.status === "completed" && seen.completedAt === null) {
          seen.completedAt = Date.now();
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const started = Date.now();
    const { status, body } = await get(id, "wait_ms=20000");
    const answeredAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 50));
    polling = false;
    await poller;

    expect(status).toBe(200);
    expect(body.status).toBe("completed");
    expect(body.request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
    expect(answeredAt - started).toBeGreaterThanOrEqual(350);
    expect(answeredAt - started).toBeLessThan(400 + 3000);
    expect(seen.completedAt).not.toBeNull();
    // Woken by the commit, not by the 1 s re-check: the poller sees it no earlier than 300 ms
    // before the long poll answers (and usually after it).
    expect(answeredAt - (seen.completedAt as number)).toBeLessThan(300);
    // completed_at is whole seconds: the answer is in that second or the next.
    const answeredSeconds = answeredAt / 1000;
    expect(answeredSeconds - (body.completed_at as number)).toBeGreaterThanOrEqual(0);
    expect(answeredSeconds - (body.completed_at as number)).toBeLessThan(1.3);
  });

  it("answers the current state at the deadline when nothing happens", async () => {
    const id = await batch(30_000);
    const started = Date.now();
    const { status, body } = await get(id, "wait_ms=400");
    const elapsed = Date.now() - started;
    expect(status).toBe(200);
    expect(["validating", "in_progress"]).toContain(body.status);
    expect(body.completed_at).toBeUndefined();
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(2000);
    await cancel(id);
  });

  it("is woken when a cancel ends the batch", async () => {
    const id = await batch(30_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const waiting = get(id, "wait_ms=20000");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    expect((await cancel(id)).status).toBe(200);
    const { body } = await waiting;
    expect(body.status).toBe("cancelled");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("answers an ended batch at once, whatever wait_ms says", async () => {
    const id = await batch(0);
    expect((await get(id, "wait_ms=20000")).body.status).toBe("completed");
    const started = Date.now();
    const { body } = await get(id, "wait_ms=60000");
    expect(body.status).toBe("completed");
    expect(Date.now() - started).toBeLessThan(500);
  });

  it.each(["-1", "60001", "abc", "1.5"])("refuses wait_ms=%s with a 400 naming it", async (v) => {
    const id = await batch(0);
    const { status, body } = await get(id, `wait_ms=${v}`);
    expect(status).toBe(400);
    expect(body.error?.param).toBe("wait_ms");
  });

  it("counts against the key's long-poll limit, and a client that goes away frees its slot", async () => {
    const id = await batch(30_000);
    const controllers = [new AbortController(), new AbortController()];
    const held = controllers.map((c) => get(id, "wait_ms=20000", c.signal).catch(() => null));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await get(id, "wait_ms=1000");
    expect(refused.status).toBe(429);
    for (const c of controllers) {
      c.abort();
    }
    await Promise.all(held);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = await get(id, "wait_ms=100");
    expect(again.status).toBe(200);
    await cancel(id);
  });
});
