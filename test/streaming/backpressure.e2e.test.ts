import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { type RunningServer, startServer } from "../../src/server.js";

/**
 * A client that sends a streamed request and then never reads (its socket paused, so the
 * kernel buffers fill and ferry's writes stop completing). With a small write timeout its
 * stream is ended: a sync stream lets its backend slot go, so another request gets it; a
 * background stream's viewer is dropped while the response runs on to the end.
 */

const WRITE_TIMEOUT_MS = 1000;
// Echoed in every response.* event; a few of those are more than loopback buffers hold (~4 MB).
const BULK = "x".repeat(4 * 1024 * 1024);

const open: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) {
    await close();
  }
});

/** ferry with one mock backend of one slot, and its warnings collected. */
async function start() {
  const dataDir = mkdtempSync(path.join(tmpdir(), "ferry-backpressure-"));
  const warnings: string[] = [];
  const onWarning: ((line: string) => void)[] = [];
  const logger = pino(
    { level: "warn" },
    {
      write(line: string) {
        warnings.push(line);
        for (const listener of onWarning) {
          listener(line);
        }
      },
    },
  );
  const config = loadConfig(
    {},
    {
      port: 0,
      host: "127.0.0.1",
      dataDir,
      backends: [
        {
          type: "mock",
          name: "mock",
          models: ["*"],
          aliases: {},
          maxConcurrency: 1,
          ttftMs: null,
          tokensPerSecond: null,
        },
      ],
      limits: { maxBodyBytes: 64 * 1024 * 1024 },
      streaming: { writeTimeoutMs: WRITE_TIMEOUT_MS },
    },
  );
  const server = await startServer(config, logger);
  open.push(() => rmSync(dataDir, { recursive: true, force: true }));
  open.push(() => server.close());
  /** Resolves once ferry has logged that it ended a stream whose client stopped reading. */
  const streamEnded = (timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const isEnded = (line: string) => line.includes("client stopped reading");
      if (warnings.some(isEnded)) {
        resolve();
        return;
      }
      const timer = setTimeout(
        () => reject(new Error("ferry never ended the stream of the client that stopped reading")),
        timeoutMs,
      );
      onWarning.push((line) => {
        if (isEnded(line)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  return { server, streamEnded };
}

/** Sends a request over a raw socket that reads nothing until `readAll()`. */
function sendAndStopReading(server: RunningServer, body: unknown) {
  const json = JSON.stringify(body);
  const socket = net.connect(server.port, "127.0.0.1");
  socket.pause();
  open.push(() => {
    socket.destroy();
  });
  socket.write(
    "POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
      `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n`,
  );
  socket.write(json);
  return {
    /** Reads what is buffered and what follows, until the connection ends. */
    readAll: () =>
      new Promise<string>((resolve) => {
        const chunks: Buffer[] = [];
        socket.on("data", (chunk: Buffer) => chunks.push(chunk));
        socket.once("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
        socket.on("error", () => undefined);
        socket.resume();
      }),
  };
}

async function health(server: RunningServer) {
  const body = (await (await fetch(`${server.url}/health`)).json()) as {
    backends: { name: string; in_flight: number }[];
  };
  return body.backends.find((backend) => backend.name === "mock");
}

/** Polls /health until the mock backend has `count` calls in flight. */
async function waitForInFlight(server: RunningServer, count: number) {
  const deadline = Date.now() + 10_000;
  while ((await health(server))?.in_flight !== count) {
    if (Date.now() > deadline) {
      throw new Error(`the mock backend never had ${count} calls in flight`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const bulkyRequest = {
  model: "m",
  input: "tell me about tides",
  tools: [{ type: "function", name: "bulk", description: BULK, parameters: {} }],
};

describe("a streaming client that stops reading", () => {
  it("has its sync stream ended, and the backend slot goes to the next request", async () => {
    const { server, streamEnded } = await start();
    const stalled = sendAndStopReading(server, { ...bulkyRequest, stream: true });
    await waitForInFlight(server, 1);

    // The one slot is the stalled stream's until ferry gives up on it.
    const next = await fetch(`${server.url}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", input: "another tenant's question" }),
      signal: AbortSignal.timeout(10_000),
    });
    expect(next.status).toBe(200);
    expect(((await next.json()) as { status: string }).status).toBe("completed");
    await streamEnded();
    expect((await health(server))?.in_flight).toBe(0);

    const received = await stalled.readAll();
    expect(received).toContain("event: response.created");
    expect(received).not.toContain("response.completed");
  }, 30_000);

  it("drops only the viewer of a background stream; the response completes", async () => {
    const { server, streamEnded } = await start();
    const stalled = sendAndStopReading(server, { ...bulkyRequest, stream: true, background: true });
    await streamEnded();

    const received = await stalled.readAll();
    const id = /"id":"(resp_[^"]+)"/.exec(received)?.[1] ?? "";
    expect(id).not.toBe("");
    expect(received).not.toContain("response.completed");
    // Another viewer follows it to the end: the work went on without the dropped one.
    const replay = await fetch(`${server.url}/v1/responses/${id}?stream=true`, {
      signal: AbortSignal.timeout(10_000),
    });
    expect(await replay.text()).toContain("event: response.completed");
    const retrieved = (await (await fetch(`${server.url}/v1/responses/${id}`)).json()) as {
      status: string;
    };
    expect(retrieved.status).toBe("completed");
    expect((await health(server))?.in_flight).toBe(0);
  }, 30_000);
});
