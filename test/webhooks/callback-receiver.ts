import {
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, type ServerOptions } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";

/**
 * A real receiver on 127.0.0.1 (node:http, or node:https with the test PKI), for the end-to-end
 * callback and webhook endpoint tests: it records every request ferry makes and answers what the test's
 * `answer` says, or holds the request unanswered (to land a kill -9 mid-attempt).
 */
export interface ReceivedCallback {
  readonly webhookId: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The client certificate's CN, on an https receiver that asks for one; null without. */
  readonly clientCn: string | null;
  /** What the receiver answered; null while the request is held (or was never answered). */
  answered: number | null;
}

/** A status to answer, or "hold": keep the request open, never answering it. */
export type Answer = number | "hold";

export interface CallbackReceiver {
  readonly port: number;
  /** `http(s)://127.0.0.1:<port><path>`. */
  urlOf(path: string): string;
  readonly received: ReceivedCallback[];
  /** TCP connections accepted so far (a refused TLS handshake counts: it connected). */
  connections(): number;
  /** Requests seen with this webhook-id. */
  byWebhookId(id: string): ReceivedCallback[];
  close(): Promise<void>;
}

export async function startReceiver(options: {
  answer: (callback: ReceivedCallback, index: number) => Answer;
  /** Listen on this port (one reserved earlier with freePort); any free one by default. */
  port?: number;
  /** Serve https with these options (cert, key, and for mTLS requestCert and ca). */
  tls?: ServerOptions;
}): Promise<CallbackReceiver> {
  const received: ReceivedCallback[] = [];
  const sockets = new Set<Socket>();
  let connectionCount = 0;
  const held: ServerResponse[] = [];
  const handler = (
    request: import("node:http").IncomingMessage,
    response: ServerResponse,
  ): void => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const socket = request.socket as TLSSocket;
      const peer =
        typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : null;
      const cn = peer?.subject?.CN;
      const callback: ReceivedCallback = {
        webhookId: String(request.headers["webhook-id"] ?? ""),
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        clientCn: typeof cn === "string" ? cn : null,
        answered: null,
      };
      const index = received.length;
      received.push(callback);
      const answer = options.answer(callback, index);
      if (answer === "hold") {
        held.push(response);
        return;
      }
      callback.answered = answer;
      response.writeHead(answer, { "content-type": "text/plain" }).end(`answered ${answer}`);
    });
  };
  const server: Server =
    options.tls === undefined ? createHttpServer(handler) : createHttpsServer(options.tls, handler);
  // TLS servers see the raw TCP connection here, before any handshake.
  server.on("connection", (socket: Socket) => {
    connectionCount++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  // A refused handshake (no or a foreign client certificate) is the point of some tests.
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = options.tls === undefined ? "http" : "https";
  return {
    port,
    urlOf: (path) => `${scheme}://127.0.0.1:${port}${path}`,
    received,
    connections: () => connectionCount,
    byWebhookId: (id) => received.filter((callback) => callback.webhookId === id),
    async close() {
      for (const response of held.splice(0)) {
        response.destroy();
      }
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A loopback port that was free a moment ago: for a receiver that starts listening later in
 * the test, so ferry's first attempts find nothing there (ECONNREFUSED).
 */
export async function freePort(): Promise<number> {
  const probe = createHttpServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", () => resolve()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Polls `check` every 20 ms until it is truthy; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) {
      return value as NonNullable<T>;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
