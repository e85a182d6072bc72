import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseApiKeysVariable } from "../../src/config.js";
import type { AppEnv } from "../../src/http/app-env.js";
import { authenticate } from "../../src/http/auth.js";
import { createErrorHandler } from "../../src/http/errors.js";
import { acquireLongPoll, createLongPollLimiter } from "../../src/http/long-poll-limit.js";
import { createRateLimiter, formatResetDuration } from "../../src/http/rate-limit.js";
import type { Clock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";
import { bearer, type ErrorBody, expectJson, keyedContext, send } from "./auth-helpers.js";

const START_MS = 1_750_000_000_000;
let nowMs = START_MS;
const clock: Clock = { nowMs: () => nowMs };

function limitHeaders(res: Response) {
  return {
    limit: res.headers.get("x-ratelimit-limit-requests"),
    remaining: res.headers.get("x-ratelimit-remaining-requests"),
    reset: res.headers.get("x-ratelimit-reset-requests"),
  };
}

describe("the per-key rate limit over HTTP", () => {
  let world: ReturnType<typeof keyedContext>;
  let key = "";
  beforeEach(() => {
    nowMs = START_MS;
    world = keyedContext({
      clock,
      config: { limits: { requestsPerMinute: 3 }, apiKeys: parseApiKeysVariable("sk-env-1@gamma") },
    });
    key = world.createKey("alpha").key;
  });
  afterEach(() => world.t.close());

  it("answers 429 with Retry-After and x-ratelimit-* headers, then recovers", async () => {
    const expected = [
      { remaining: "2", reset: "20s" },
      { remaining: "1", reset: "40s" },
      { remaining: "0", reset: "1m0s" },
    ];
    for (const step of expected) {
      const res = await send(world.t, "GET", "/v1/models", key);
      await expectJson(res, 200);
      expect(limitHeaders(res)).toEqual({ limit: "3", ...step });
    }
    const limited = await send(world.t, "GET", "/v1/models", key);
    const err = await expectJson<ErrorBody>(limited, 429);
    expect(err.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded", param: null });
    expect(err.error.message).toMatch(/Limit 3, Used 3, Requested 1\. Please try again in 20s\./);
    expect(limited.headers.get("retry-after")).toBe("20");
    expect(limited.headers.get("retry-after-ms")).toBe("20000");
    expect(limitHeaders(limited)).toEqual({ limit: "3", remaining: "0", reset: "1m0s" });

    // A refused request costs nothing; one more comes back after a third of the minute.
    nowMs += 19_999;
    await expectJson(send(world.t, "GET", "/v1/models", key), 429);
    nowMs += 1;
    const recovered = await send(world.t, "GET", "/v1/models", key);
    await expectJson(recovered, 200);
    expect(limitHeaders(recovered)).toEqual({ limit: "3", remaining: "0", reset: "1m0s" });

    // A quiet minute restores the whole allowance.
    nowMs += 60_000;
    const whole = await send(world.t, "GET", "/v1/models", key);
    expect(limitHeaders(whole)).toEqual({ limit: "3", remaining: "2", reset: "20s" });
  });

  it("counts each key on its own, FERRY_API_KEYS keys included", async () => {
    const other = world.createKey("alpha").key;
    for (let i = 0; i < 3; i++) {
      await expectJson(send(world.t, "GET", "/v1/models", key), 200);
    }
    await expectJson(send(world.t, "GET", "/v1/models", key), 429);
    await expectJson(send(world.t, "GET", "/v1/models", other), 200);
    const env = await send(world.t, "GET", "/v1/models", "sk-env-1");
    expect(limitHeaders(env).remaining).toBe("2");
  });

  it("does not count or label requests without a valid key", async () => {
    const res = await send(world.t, "GET", "/v1/models", "sk-wrong");
    await expectJson(res, 401);
    expect(limitHeaders(res).limit).toBeNull();
    const after = await send(world.t, "GET", "/v1/models", key);
    expect(limitHeaders(after).remaining).toBe("2");
  });

  it("sends the headers on error answers, and counts 403s", async () => {
    const reader = world.createKey("alpha", ["responses:read"]).key;
    const missing = await send(world.t, "GET", "/v1/responses/resp_missing", reader);
    await expectJson(missing, 404);
    expect(limitHeaders(missing)).toEqual({ limit: "3", remaining: "2", reset: "20s" });
    const forbidden = await send(world.t, "GET", "/v1/files", reader);
    await expectJson(forbidden, 403);
    expect(limitHeaders(forbidden).remaining).toBe("1");
  });

  it("sends the headers on a streaming answer too", async () => {
    const res = await send(world.t, "POST", "/v1/responses", key, {
      model: "gpt-4o-mini",
      input: "hi",
      stream: true,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    expect(limitHeaders(res).limit).toBe("3");
    await res.text();
  });
});

describe("open mode and the rate limit", () => {
  let t: TestContext;
  beforeEach(() => {
    t = createTestContext({ clock, config: { limits: { requestsPerMinute: 1 } } });
  });
  afterEach(() => t.close());

  it("is not rate-limited (there is no key to count against)", async () => {
    for (let i = 0; i < 5; i++) {
      const res = await send(t, "GET", "/v1/models", null);
      await expectJson(res, 200);
      expect(limitHeaders(res).limit).toBeNull();
    }
  });
});

describe("createRateLimiter", () => {
  it("is off at 0 requests per minute", () => {
    expect(createRateLimiter({ requestsPerMinute: 0, clock })).toBeNull();
  });

  it("keeps exact retry times for limits that do not divide a minute", () => {
    nowMs = START_MS;
    const limiter = createRateLimiter({ requestsPerMinute: 7, clock });
    for (let i = 0; i < 7; i++) {
      expect(limiter?.take("k").isAllowed).toBe(true);
    }
    const denied = limiter?.take("k");
    expect(denied).toMatchObject({ isAllowed: false, remaining: 0, retryAfterMs: 8572 });
    nowMs += 8571;
    expect(limiter?.take("k").isAllowed).toBe(false);
    nowMs += 1;
    expect(limiter?.take("k").isAllowed).toBe(true);
  });

  it("forgets keys idle for a minute, as new ones arrive", () => {
    nowMs = START_MS;
    const limiter = createRateLimiter({ requestsPerMinute: 10, clock });
    for (let i = 0; i < 1000; i++) {
      limiter?.take(`key-${i}`);
    }
    expect(limiter?.size()).toBe(1000);
    nowMs += 30_000;
    limiter?.take("key-0");
    expect(limiter?.size()).toBe(1000);
    nowMs += 30_000;
    limiter?.take("fresh");
    // key-0 was used 30 s ago; the other 999 have been idle a whole minute.
    expect(limiter?.size()).toBe(2);
  });

  it("writes reset times the way OpenAI does", () => {
    expect(formatResetDuration(0)).toBe("0s");
    expect(formatResetDuration(20)).toBe("20ms");
    expect(formatResetDuration(1000)).toBe("1s");
    expect(formatResetDuration(8640)).toBe("8.64s");
    expect(formatResetDuration(360_000)).toBe("6m0s");
    expect(formatResetDuration(3_725_500)).toBe("1h2m5.5s");
  });
});

describe("long-poll limiting", () => {
  it("counts slots per key, releases once, and forgets keys with none open", () => {
    const limiter = createLongPollLimiter({ maxPerKey: 2 });
    const first = limiter.tryAcquire("a");
    const second = limiter.tryAcquire("a");
    expect(first).not.toBeNull();
    expect(second).not.toBeNull();
    expect(limiter.tryAcquire("a")).toBeNull();
    expect(limiter.tryAcquire("b")).not.toBeNull();
    first?.();
    first?.();
    expect(limiter.active("a")).toBe(1);
    expect(limiter.tryAcquire("a")).not.toBeNull();
    expect(limiter.tryAcquire("a")).toBeNull();
    expect(limiter.size()).toBe(2);
  });

  it("lets a route hold at most N long-polls per key, with a 429 beyond", async () => {
    const world = keyedContext();
    try {
      const alpha = world.createKey("alpha").key;
      const beta = world.createKey("beta").key;
      const gates: (() => void)[] = [];
      const app = new Hono<AppEnv>();
      app.onError(createErrorHandler(createSilentLogger()));
      app.use("/v1/*", authenticate({ apiKeys: world.t.services.apiKeys }));
      const limiter = createLongPollLimiter({ maxPerKey: 2 });
      app.get("/v1/streams/:id/events", async (c) => {
        const release = acquireLongPoll(c, limiter);
        try {
          await new Promise<void>((resolve) => gates.push(resolve));
          return c.json({ object: "list", data: [] });
        } finally {
          release();
        }
      });
      const poll = (key: string) =>
        Promise.resolve(app.request("/v1/streams/s/events?wait_ms=1000", { headers: bearer(key) }));

      const held = [poll(alpha), poll(alpha)];
      await new Promise((resolve) => setImmediate(resolve));
      expect(gates).toHaveLength(2);
      const third = await poll(alpha);
      const err = await expectJson<ErrorBody>(third, 429);
      expect(err.error.code).toBe("rate_limit_exceeded");
      expect(third.headers.get("retry-after")).toBe("1");
      // Another key has its own slots.
      const other = poll(beta);
      await new Promise((resolve) => setImmediate(resolve));
      expect(gates).toHaveLength(3);
      // When one returns, its slot is free again.
      gates[0]?.();
      await expectJson(held[0] ?? Promise.reject(new Error("missing")), 200);
      const again = poll(alpha);
      await new Promise((resolve) => setImmediate(resolve));
      expect(gates).toHaveLength(4);
      for (const open of gates.slice(1)) {
        open();
      }
      await Promise.all([held[1], other, again]);
    } finally {
      await world.t.close();
    }
  });

  it("does not limit without a limiter", async () => {
    const app = new Hono<AppEnv>();
    app.get("/poll", (c) => {
      const releases = [1, 2, 3].map(() => acquireLongPoll(c, undefined));
      for (const release of releases) {
        release();
      }
      return c.json({ ok: true });
    });
    await expectJson(app.request("/poll"), 200);
  });
});
