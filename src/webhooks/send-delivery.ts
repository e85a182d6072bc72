import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { Agent, type Dispatcher } from "undici";
import { coerceError } from "../lib/coerce-error.js";
import {
  allowListOf,
  guardedLookup,
  isAddressAllowed,
  type OutboundPolicy,
} from "./outbound-url.js";
import type { CallbackTarget } from "./outbox.js";

/**
 * One HTTP attempt of a webhook or callback delivery. Outbound safety is enforced here, on every
 * attempt: the address actually dialled must be allowed (outbound-url.ts; a name that resolves
 * elsewhere since it was checked is refused), redirects are not followed (a 3xx is an answer
 * like any other, and not a 2xx), and the receiver's answer is read only up to a cap. An attempt
 * never throws: whatever happens is in its result, for the attempt log.
 */
export interface DeliveryRequest {
  readonly url: string;
  readonly body: string;
  /** The signed headers (webhook-id, webhook-timestamp, webhook-signature) and any others. */
  readonly headers: Readonly<Record<string, string>>;
  readonly auth: CallbackTarget["auth"];
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly policy: OutboundPolicy;
}

export interface DeliveryResult {
  /** The receiver's status; null when it gave none (refused, timed out, blocked). */
  readonly statusCode: number | null;
  readonly latencyMs: number;
  /** Why the attempt did not deliver, or null when it answered 2xx. */
  readonly error: string | null;
  /** The start of the receiver's answer, at most maxResponseBytes. */
  readonly responseBody: string;
}

export interface DeliverySender {
  send(request: DeliveryRequest, signal?: AbortSignal): Promise<DeliveryResult>;
  /** Closes the connection pools (at shutdown). */
  close(): Promise<void>;
}

const USER_AGENT = "ferry-webhooks/1";
/** Client-certificate agents kept open at once (one per distinct certificate and key). */
const MAX_MTLS_AGENTS = 64;

export function createDeliverySender(): DeliverySender {
  // One pool per policy (every caller passes the server's one) and one per mTLS identity: a
  // client certificate is a property of the TLS connection, so it cannot share a pool.
  const plainAgents = new Map<string, Agent>();
  const mtlsAgents = new Map<string, Agent>();

  // A policy is known by its networks and its resolver (tests inject one).
  const resolverIds = new WeakMap<object, number>();
  let resolverCount = 0;
  function policyKeyOf(policy: OutboundPolicy): string {
    let resolver = 0;
    if (policy.lookup !== undefined) {
      resolver = resolverIds.get(policy.lookup) ?? ++resolverCount;
      resolverIds.set(policy.lookup, resolver);
    }
    return `${policy.allowNetworks.join(",")}|${resolver}`;
  }

  function agentFor(request: DeliveryRequest): Agent {
    const policyKey = policyKeyOf(request.policy);
    const auth = request.auth;
    if (auth?.kind !== "mtls") {
      let agent = plainAgents.get(policyKey);
      if (agent === undefined) {
        agent = new Agent({
          connect: { lookup: guardedLookup(request.policy) },
          headersTimeout: 0,
          bodyTimeout: 0,
        });
        plainAgents.set(policyKey, agent);
      }
      return agent;
    }
    const key = createHash("sha256")
      .update(policyKey)
      .update("\0")
      .update(auth.cert)
      .update("\0")
      .update(auth.key)
      .update("\0")
      .update(auth.ca ?? "")
      .digest("hex");
    let agent = mtlsAgents.get(key);
    if (agent === undefined) {
      if (mtlsAgents.size >= MAX_MTLS_AGENTS) {
        const [oldestKey, oldest] = mtlsAgents.entries().next().value as [string, Agent];
        mtlsAgents.delete(oldestKey);
        void oldest.close().catch(() => {});
      }
      agent = new Agent({
        connect: {
          lookup: guardedLookup(request.policy),
          cert: auth.cert,
          key: auth.key,
          ...(auth.ca ? { ca: auth.ca } : {}),
        },
        headersTimeout: 0,
        bodyTimeout: 0,
      });
    } else {
      mtlsAgents.delete(key); // re-inserted below: the map's order is least recently used first
    }
    mtlsAgents.set(key, agent);
    return agent;
  }

  return {
    async send(request, signal) {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      const fail = (error: string, statusCode: number | null = null, responseBody = "") => ({
        statusCode,
        latencyMs: elapsed(),
        error,
        responseBody,
      });
      let url: URL;
      try {
        url = new URL(request.url);
      } catch {
        return fail("the destination is not a URL");
      }
      const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
      // An IP literal is dialled without a lookup, so the guarded lookup never sees it.
      if (isIP(host) !== 0 && !isAddressAllowed(host, allowListOf(request.policy.allowNetworks))) {
        return fail(
          `refused to send to ${host}: a loopback, private, link-local or reserved address`,
        );
      }
      const timeout = AbortSignal.timeout(request.timeoutMs);
      const combined = signal === undefined ? timeout : AbortSignal.any([timeout, signal]);
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        ...request.headers,
      };
      if (request.auth?.kind === "basic") {
        const token = Buffer.from(`${request.auth.username}:${request.auth.password}`).toString(
          "base64",
        );
        headers.authorization = `Basic ${token}`;
      }
      let answer: Dispatcher.ResponseData;
      try {
        answer = await agentFor(request).request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: "POST",
          headers,
          body: request.body,
          signal: combined,
        });
      } catch (thrown) {
        return fail(describeFailure(thrown, timeout, request.timeoutMs));
      }
      let responseBody: string;
      try {
        responseBody = await readCapped(answer.body, request.maxResponseBytes);
      } catch (thrown) {
        return fail(describeFailure(thrown, timeout, request.timeoutMs), answer.statusCode);
      }
      const status = answer.statusCode;
      if (status >= 200 && status <= 299) {
        return { statusCode: status, latencyMs: elapsed(), error: null, responseBody };
      }
      const why =
        status >= 300 && status <= 399
          ? `the receiver answered ${status} (a redirect, which is not followed)`
          : `the receiver answered ${status}`;
      return fail(why, status, responseBody);
    },

    async close() {
      const agents = [...plainAgents.values(), ...mtlsAgents.values()];
      plainAgents.clear();
      mtlsAgents.clear();
      await Promise.all(agents.map((agent) => agent.close().catch(() => {})));
    },
  };
}

/** Reads the answer up to `cap` bytes, then drops the rest (and the connection, if it is long). */
async function readCapped(body: Dispatcher.ResponseData["body"], cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const bytes = chunk as Buffer;
    if (size + bytes.length >= cap) {
      chunks.push(bytes.subarray(0, cap - size));
      size = cap;
      body.destroy();
      break;
    }
    chunks.push(bytes);
    size += bytes.length;
  }
  return Buffer.concat(chunks, size).toString("utf8");
}

function describeFailure(thrown: unknown, timeout: AbortSignal, timeoutMs: number): string {
  if (timeout.aborted) {
    return `no answer within ${timeoutMs} ms`;
  }
  const err = coerceError(thrown) as Error & {
    code?: string;
    cause?: { code?: string; message?: string };
  };
  const code = err.code ?? err.cause?.code;
  const message = err.cause?.message ?? err.message;
  return code === undefined ? message : `${message} (${code})`;
}
