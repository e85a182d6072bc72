import { EventEmitter } from "node:events";
import { Agent, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import { abortOnClientGone, whileClientConnected } from "../../src/http/client-gone.js";

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

async function listen(app: Hono): Promise<number> {
  const listening = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  server = listening;
  await new Promise((resolve) => listening.once("listening", resolve));
  return (listening.address() as AddressInfo).port;
}

function post(port: number, agent: Agent, path = "/"): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method: "POST", path, agent }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString("utf8");
      });
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.end("{}");
  });
}

describe("whileClientConnected", () => {
  it("keeps an unused signal for the next request on the same connection", async () => {
    const signals: AbortSignal[] = [];
    const app = new Hono()
      .post("/", async (c) =>
        c.text(
          await whileClientConnected(c, async (signal) => {
            signals.push(signal);
            return "ok";
          }),
        ),
      )
      .post("/leaky", async (c) =>
        c.text(
          await whileClientConnected(c, async (signal) => {
            signals.push(signal);
            signal.addEventListener("abort", () => undefined);
            return "ok";
          }),
        ),
      );
    const port = await listen(app);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await post(port, agent)).toBe("ok");
      expect(await post(port, agent)).toBe("ok");
      // A signal someone still listens on is never handed on.
      expect(await post(port, agent, "/leaky")).toBe("ok");
      expect(await post(port, agent)).toBe("ok");
    } finally {
      agent.destroy();
    }
    expect(signals[1]).toBe(signals[0]);
    expect(signals[2]).toBe(signals[0]);
    expect(signals[3]).not.toBe(signals[2]);
    expect(signals.some((signal) => signal.aborted)).toBe(false);
  });

  it("aborts the work when the client hangs up, and never hands that signal on", async () => {
    let hangUp = () => {};
    const signals: AbortSignal[] = [];
    const app = new Hono().post("/", async (c) =>
      c.text(
        await whileClientConnected(c, async (signal) => {
          signals.push(signal);
          if (c.req.query("wait") === "1") {
            const gone = new Promise((wake) => signal.addEventListener("abort", wake));
            hangUp();
            await gone;
          }
          return "ok";
        }),
      ),
    );
    const port = await listen(app);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await post(port, agent)).toBe("ok");
      const clientRequest = httpRequest({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/?wait=1",
        agent,
      });
      hangUp = () => clientRequest.destroy();
      const closed = new Promise((resolve) => clientRequest.on("close", resolve));
      clientRequest.on("error", () => undefined);
      clientRequest.end("{}");
      await closed;
      await vi.waitUntil(() => signals[1]?.aborted === true);
      expect(await post(port, agent)).toBe("ok");
    } finally {
      agent.destroy();
    }
    expect(signals[1]).toBe(signals[0]);
    expect(signals[2]).not.toBe(signals[1]);
    expect(signals[2]?.aborted).toBe(false);
  });
});
