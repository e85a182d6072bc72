import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../src/http/app-env.js";
import { limitBody } from "../../src/http/body-limit.js";
import { createErrorHandler } from "../../src/http/errors.js";
import { createSilentLogger } from "../../src/lib/logger.js";

const app = new Hono<AppEnv>();
app.onError(createErrorHandler(createSilentLogger()));
app.use(limitBody(10));
app.on(["POST", "GET"], "/", async (c) => c.text(String((await c.req.text()).length)));

function chunked(text: string): RequestInit {
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  });
  return { method: "POST", body, duplex: "half" } as RequestInit;
}

describe("limitBody", () => {
  it("lets a body within the limit through", async () => {
    const res = await app.request("/", { method: "POST", body: "0123456789" });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.text()).toBe("10");
  });

  it("answers 413 in the error envelope when content-length is over the limit", async () => {
    const res = await app.request("/", { method: "POST", body: "0123456789!" });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      error: {
        message: "The request body is larger than the limit of 10 bytes.",
        type: "invalid_request_error",
        param: null,
        code: null,
      },
    });
  });

  it("counts a body sent without content-length", async () => {
    const small = await app.request("/", chunked("0123"));
    expect(small.status).toBe(200);
    expect(await small.text()).toBe("4");
    const large = await app.request("/", chunked("0123456789!"));
    expect(large.status).toBe(413);
  });

  it("skips methods without a body", async () => {
    const res = await app.request("/");
    expect(res.status).toBe(200);
  });
});
