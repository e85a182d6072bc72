import { EventEmitter } from "node:events";
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { abortOnClientGone } from "../../src/http/client-gone.js";

/** The parts of a ServerResponse that abortOnClientGone reads. */
class FakeOutgoing extends EventEmitter {
  writableFinished = false;
  closed = false;
  close(): void {
    this.closed = true;
    this.emit("close");
  }
}

function slowApp(seen: { controller?: AbortController }, isSlow = true) {
  return new Hono().post("/", (c) =>
    abortOnClientGone(c, async (controller) => {
      seen.controller = controller;
      if (isSlow && !controller.signal.aborted) {
        await new Promise((resolve) => controller.signal.addEventListener("abort", resolve));
      }
      return c.text("done");
    }),
  );
}

let server: ServerType | null = null;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = null;
});

describe("abortOnClientGone", () => {
  it("aborts when the node response closes before it finished", async () => {
    const seen: { controller?: AbortController } = {};
    const outgoing = new FakeOutgoing();
    const answer = slowApp(seen).request("/", { method: "POST" }, { outgoing });
    await new Promise((resolve) => setImmediate(resolve));
    outgoing.close();
    expect((await answer).status).toBe(200);
    expect(seen.controller?.signal.aborted).toBe(true);
    expect(outgoing.listenerCount("close")).toBe(0);
  });

  it("does not count a normal completion as a disconnect, and stops listening", async () => {
    const seen: { controller?: AbortController } = {};
    const outgoing = new FakeOutgoing();
    const res = await slowApp(seen, false).request("/", { method: "POST" }, { outgoing });
    expect(await res.text()).toBe("done");
    expect(outgoing.listenerCount("close")).toBe(0);
    outgoing.writableFinished = true;
    outgoing.close();
    expect(seen.controller?.signal.aborted).toBe(false);
  });

  it("aborts at once when the response was already closed", async () => {
    const seen: { controller?: AbortController } = {};
    const outgoing = new FakeOutgoing();
    outgoing.closed = true;
    await slowApp(seen).request("/", { method: "POST" }, { outgoing });
    expect(seen.controller?.signal.aborted).toBe(true);
  });

  it("falls back to the request's signal without node bindings", async () => {
    const seen: { controller?: AbortController } = {};
    const client = new AbortController();
    const answer = slowApp(seen).request("/", { method: "POST", signal: client.signal });
    await new Promise((resolve) => setImmediate(resolve));
    client.abort();
    await Promise.resolve(answer).catch(() => undefined);
    expect(seen.controller?.signal.aborted).toBe(true);
  });

  it("aborts a handler on a real server when the client hangs up", async () => {
    let hangUp = () => {};
    let reportAbort: (controller: AbortController) => void = () => {};
    const aborted = new Promise<AbortController>((resolve) => {
      reportAbort = resolve;
    });
    const app = new Hono().post("/", (c) =>
      abortOnClientGone(c, async (controller) => {
        const gone = new Promise((wake) => controller.signal.addEventListener("abort", wake));
        hangUp();
        await gone;
        reportAbort(controller);
        return c.text("late");
      }),
    );
    const listening = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    server = listening;
    await new Promise((resolve) => listening.once("listening", resolve));
    const { port } = listening.address() as AddressInfo;
    const clientRequest = httpRequest({ host: "127.0.0.1", port, method: "POST", path: "/" });
    hangUp = () => clientRequest.destroy();
    clientRequest.on("error", () => undefined);
    clientRequest.end("{}");
    expect((await aborted).signal.aborted).toBe(true);
  });
});
