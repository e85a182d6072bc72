import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDeliverySender, type DeliveryRequest } from "../../src/webhooks/send-delivery.js";
import { createTestPki, type TestPki } from "../helpers/test-pki.js";

const LOOPBACK = { allowNetworks: ["127.0.0.0/8", "::1/128"] };

interface Received {
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
  readonly clientCertCn?: string;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

describe("one delivery attempt", () => {
  const sender = createDeliverySender();
  const received: Received[] = [];
  let handler: (request: IncomingMessage, response: ServerResponse) => void = (_q, r) =>
    r.end("ok");
  const server = createHttpServer(async (request, response) => {
    received.push({ headers: request.headers, body: await readBody(request) });
    handler(request, response);
  });
  let base = "";
  const attempt = (overrides: Partial<DeliveryRequest> = {}) =>
    sender.send({
      url: `${base}/hook?x=1`,
      body: '{"hello":"world"}',
      headers: { "webhook-id": "wh_1", "webhook-timestamp": "1", "webhook-signature": "v1,abc" },
      auth: null,
      timeoutMs: 2_000,
      maxResponseBytes: 1024,
      policy: LOOPBACK,
      ...overrides,
    });

  beforeAll(async () => {
    base = `http://127.0.0.1:${await listen(server)}`;
  });
  afterAll(async () => {
    await sender.close();
    server.close();
  });

  it("posts the body with the given headers, JSON content type and basic auth", async () => {
    received.length = 0;
    handler = (_q, r) => r.writeHead(204).end();
    const result = await attempt({
      auth: { kind: "basic", username: "ann", password: "s3cret:x" },
    });
    expect(result).toMatchObject({ statusCode: 204, error: null });
    const [got] = received;
    expect(got?.body).toBe('{"hello":"world"}');
    expect(got?.headers["webhook-id"]).toBe("wh_1");
    expect(got?.headers["content-type"]).toBe("application/json");
    expect(got?.headers.authorization).toBe(
      `Basic ${Buffer.from("ann:s3cret:x").toString("base64")}`,
    );
  });

  it("reports a non-2xx answer, and does not follow a redirect", async () => {
    handler = (_q, r) => r.writeHead(500).end("boom");
    expect(await attempt()).toMatchObject({
      statusCode: 500,
      error: "the receiver answered 500",
      responseBody: "boom",
    });
    received.length = 0;
    handler = (q, r) =>
      q.url?.startsWith("/elsewhere")
        ? r.end("followed")
        : r.writeHead(302, { location: "/elsewhere" }).end();
    const redirected = await attempt();
    expect(redirected.statusCode).toBe(302);
    expect(redirected.error).toMatch(/redirect/);
    expect(received).toHaveLength(1);
  });

  it("reads at most the answer cap", async () => {
    handler = (_q, r) => r.end("x".repeat(100_000));
    const result = await attempt({ maxResponseBytes: 100 });
    expect(result.statusCode).toBe(200);
    expect(result.responseBody).toHaveLength(100);
  });

  it("gives up on a receiver that does not answer in time", async () => {
    handler = () => {}; // never answers
    const result = await attempt({ timeoutMs: 200 });
    expect(result.statusCode).toBeNull();
    expect(result.error).toMatch(/no answer within 200 ms/);
  });

  it("reports a refused connection", async () => {
    const closed = createHttpServer();
    const port = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    const result = await attempt({ url: `http://127.0.0.1:${port}/` });
    expect(result.statusCode).toBeNull();
    expect(result.error).toMatch(/ECONNREFUSED/);
  });

  it("sends nothing to an address the policy does not allow, by literal or by name", async () => {
    received.length = 0;
    const literal = await attempt({ policy: { allowNetworks: [] } });
    expect(literal.error).toMatch(/refused to send to 127\.0\.0\.1/);
    const port = new URL(base).port;
    const named = await attempt({
      url: `http://localhost:${port}/`,
      policy: { allowNetworks: [] },
    });
    expect(named.statusCode).toBeNull();
    expect(named.error).toMatch(/EADDRNOTALLOWED|refused to connect/);
    const rebound = await attempt({
      url: `http://receiver.example:${port}/`,
      policy: { allowNetworks: [], lookup: async () => ["169.254.169.254"] },
    });
    expect(rebound.error).toMatch(/EADDRNOTALLOWED|refused to connect/);
    expect(received).toHaveLength(0);
  });
});

describe("a delivery over mutual TLS", () => {
  let pki: TestPki;
  let base = "";
  const seen: Received[] = [];
  const sender = createDeliverySender();
  let server: ReturnType<typeof createHttpsServer>;

  beforeAll(async () => {
    pki = createTestPki();
    server = createHttpsServer(
      {
        cert: pki.serverCert,
        key: pki.serverKey,
        ca: pki.caCert,
        requestCert: true,
        rejectUnauthorized: true,
      },
      async (request, response) => {
        const peer = (request.socket as TLSSocket).getPeerCertificate();
        seen.push({
          headers: request.headers,
          body: await readBody(request),
          clientCertCn: String(peer.subject?.CN),
        });
        response.end("ok");
      },
    );
    base = `https://127.0.0.1:${await listen(server as unknown as Server)}`;
  });
  afterAll(async () => {
    await sender.close();
    server.close();
  });

  const send = (auth: DeliveryRequest["auth"]) =>
    sender.send({
      url: `${base}/cb`,
      body: "{}",
      headers: {},
      auth,
      timeoutMs: 5_000,
      maxResponseBytes: 1024,
      policy: LOOPBACK,
    });

  it("presents the client certificate, which the receiver checks against its CA", async () => {
    const result = await send({
      kind: "mtls",
      cert: pki.clientCert,
      key: pki.clientKey,
      ca: pki.caCert,
    });
    expect(result).toMatchObject({ statusCode: 200, error: null });
    expect(seen.at(-1)?.clientCertCn).toBe("client");
  });

  it("is refused by the receiver with a certificate from another CA", async () => {
    const before = seen.length;
    const result = await send({
      kind: "mtls",
      cert: pki.strangerCert,
      key: pki.strangerKey,
      ca: pki.caCert,
    });
    expect(result.statusCode).toBeNull();
    expect(result.error).not.toBeNull();
    expect(seen).toHaveLength(before);
  });

  it("refuses a receiver whose certificate the given CA did not sign", async () => {
    const result = await send({
      kind: "mtls",
      cert: pki.clientCert,
      key: pki.clientKey,
      ca: pki.strangerCert,
    });
    expect(result.statusCode).toBeNull();
    expect(result.error).toMatch(/certificate|self.signed|verify/i);
  });
});
