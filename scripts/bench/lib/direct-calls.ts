import { Pool } from "undici";

/**
 * Drives an OpenAI-compatible upstream directly, `concurrency` calls in flight at all times, with
 * undici's Pool (one keep-alive connection per slot): the ceiling a client that does nothing but
 * call can reach on this machine, measured in the same run as ferry so that both see the same
 * machine speed.
 */

export interface DirectCallsResult {
  readonly calls: number;
  readonly seconds: number;
  readonly callsPerSecond: number;
  /** Answers that were not a 200 (a 429 past the upstream's ceiling, say). */
  readonly non200: number;
}

export async function driveDirectly(
  origin: string,
  options: {
    readonly calls: number;
    readonly concurrency: number;
    /** The chat-completions request body of call `index`, as JSON text. */
    readonly bodyOf: (index: number) => string;
  },
): Promise<DirectCallsResult> {
  const pool = new Pool(origin, { connections: options.concurrency, pipelining: 1 });
  let next = 0;
  let non200 = 0;
  const worker = async () => {
    for (let index = next++; index < options.calls; index = next++) {
      const answer = await pool.request({
        path: "/v1/chat/completions",
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer sk-bench" },
        body: options.bodyOf(index),
      });
      // Read the whole answer, as any client must before it counts a call as done.
      await answer.body.text();
      if (answer.statusCode !== 200) {
        non200 += 1;
      }
    }
  };
  try {
    const startedAt = performance.now();
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const seconds = (performance.now() - startedAt) / 1000;
    return { calls: options.calls, seconds, callsPerSecond: options.calls / seconds, non200 };
  } finally {
    await pool.close();
  }
}
