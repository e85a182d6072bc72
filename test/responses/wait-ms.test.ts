import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** GET /v1/responses/{id}?wait_ms= over a real socket, woken by the commit that ends it. */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ config: { limits: { maxConcurrentLongPolls: 2 } } });
});
afterAll(async () => {
  await s.close({ removeData: true });
});

async function background(delayMs: number): Promise<string> {
  const res = await fetch(`${s.url}/v1/responses`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "gpt-4o-mini",
      input: "hello",
      background: true,
      metadata: { mock_delay_ms: String(delayMs) },
    }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

async function get(id: string, query: string, signal?: AbortSignal) {
  const res = await fetch(`${s.url}/v1/responses/${id}?${query}`, signal ? { signal } : {});
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { error?: { param?: string } },
  };
}

describe("GET /v1/responses/{id}?wait_ms=", () => {
  it("answers once the response completes, not at the deadline", async () => {
    const id = await background(400);
    const started = Date.now();
    const { status, body } = await get(id, "wait_ms=10000");
    const elapsed = Date.now() - started;
    expect(status).toBe(200);
    expect(body.status).toBe("completed");
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(400 + 1000);
  });

  it("answers the current state at the deadline when nothing happens", async () => {
    const id = await background(30_000);
    const started = Date.now();
    const { body } = await get(id, "wait_ms=300");
    const elapsed = Date.now() - started;
    expect(["queued", "in_progress"]).toContain(body.status);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2000);
    await fetch(`${s.url}/v1/responses/${id}/cancel`, { method: "POST" });
  });

  it("is woken by a cancel", async () => {
    const id = await background(30_000);
    const waiting = get(id, "wait_ms=20000");
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await fetch(`${s.url}/v1/responses/${id}/cancel`, { method: "POST" });
    const { body } = await waiting;
    expect(body.status).toBe("cancelled");
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it.each(["-1", "60001", "abc", "1.5"])("refuses wait_ms=%s with a 400 naming it", async (v) => {
    const id = await background(0);
    const { status, body } = await get(id, `wait_ms=${v}`);
    expect(status).toBe(400);
    expect(body.error?.param).toBe("wait_ms");
  });

  it("counts against the key's long-poll limit, and a client that goes away frees its slot", async () => {
    const id = await background(30_000);
    const controllers = [new AbortController(), new AbortController()];
    const held = controllers.map((c) => get(id, "wait_ms=20000", c.signal).catch(() => null));
    await new Promise((r) => setTimeout(r, 200));
    const refused = await get(id, "wait_ms=1000");
    expect(refused.status).toBe(429);
    for (const c of controllers) {
      c.abort();
    }
    await Promise.all(held);
    await new Promise((r) => setTimeout(r, 200));
    const again = await get(id, "wait_ms=100");
    expect(again.status).toBe(200);
    await fetch(`${s.url}/v1/responses/${id}/cancel`, { method: "POST" });
  });
});
