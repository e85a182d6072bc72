import http from "node:http";

/**
 * A small JSON client over node:http with its own keep-alive Agent, so a bench controls exactly
 * how many connections it opens (thousands of idle long-polls, or one per simulated client) and
 * every request has a deadline. Only plain http: benches talk to 127.0.0.1.
 */

export interface HttpReply {
  readonly status: number;
  readonly text: string;
  /** Milliseconds from sending the request to the end of the answer. */
  readonly elapsedMs: number;
}

export interface RequestOptions {
  /** Sent as JSON. */
  readonly body?: unknown;
  /** The whole exchange, not an idle timeout: long-polls need more than their wait_ms. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface HttpClient {
  request(method: "GET" | "POST", path: string, options?: RequestOptions): Promise<HttpReply>;
  /** GETs or POSTs and parses the answer, throwing with the status and body unless it is 2xx. */
  json<T>(method: "GET" | "POST", path: string, options?: RequestOptions): Promise<T>;
  /** Sockets the agent has open now, busy or idle. */
  openSockets(): number;
  /** Closes the agent's sockets; requests still running are destroyed. */
  close(): void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

// What the openai SDK sends; ferry accepts any key while none are configured.
const DEFAULT_HEADERS = { authorization: "Bearer sk-bench" } as const;

export function createHttpClient(
  baseUrl: string,
  options: { maxSockets?: number; apiKey?: string } = {},
): HttpClient {
  const authorization =
    options.apiKey === undefined ? DEFAULT_HEADERS : { authorization: `Bearer ${options.apiKey}` };
  const url = new URL(baseUrl);
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? 64,
    // Idle sockets stay open for the next request; the default of 256 would close the rest.
    maxFreeSockets: options.maxSockets ?? 64,
  });

  function request(
    method: "GET" | "POST",
    path: string,
    requestOptions: RequestOptions = {},
  ): Promise<HttpReply> {
    const payload =
      requestOptions.body === undefined ? undefined : JSON.stringify(requestOptions.body);
    const timeoutMs = requestOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const startedAt = performance.now();
      const req = http.request({
        host: url.hostname,
        port: url.port,
        method,
        path,
        agent,
        signal: requestOptions.signal,
        headers: {
          ...authorization,
          ...(payload === undefined
            ? {}
            : {
                "content-type": "application/json",
                "content-length": String(Buffer.byteLength(payload)),
              }),
        },
      });
      const timer = setTimeout(() => {
        req.destroy(new Error(`${method} ${path}: no complete answer within ${timeoutMs} ms`));
      }, timeoutMs);
      req.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.once("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.once("error", (err) => {
          clearTimeout(timer);
          reject(err);
        });
        res.once("end", () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString("utf8"),
            elapsedMs: performance.now() - startedAt,
          });
        });
      });
      req.end(payload);
    });
  }

  return {
    request,
    async json<T>(method: "GET" | "POST", path: string, requestOptions?: RequestOptions) {
      const reply = await request(method, path, requestOptions);
      if (reply.status < 200 || reply.status >= 300) {
        throw new Error(`${method} ${path}: ${reply.status} ${reply.text.slice(0, 500)}`);
      }
      return JSON.parse(reply.text) as T;
    },
    openSockets() {
      const count = (sockets: NodeJS.ReadOnlyDict<unknown[]>) =>
        Object.values(sockets).reduce((sum, list) => sum + (list?.length ?? 0), 0);
      return count(agent.sockets) + count(agent.freeSockets);
    },
    close() {
      agent.destroy();
    },
  };
}
