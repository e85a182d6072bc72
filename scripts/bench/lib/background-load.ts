import type { HttpClient } from "./http-client.js";
import { createLatencyRecorder, type LatencyRecorder } from "./latency-recorder.js";
import { QUESTIONS } from "./questions.js";
import { sleep } from "./sleep.js";

/** Background-response load shared by the benches that submit it (background-responses, webhooks). */

export const BENCH_MODEL = "gpt-4o-mini";

export function inputFor(index: number): string {
  return `${QUESTIONS[index % QUESTIONS.length]} (#${index})`;
}

export interface SubmitRun {
  /** In the order their answers arrived. */
  readonly ids: string[];
  readonly latencies: LatencyRecorder;
  readonly errors: string[];
  readonly startedAt: number;
  readonly endedAt: number;
}

/**
 * `count` background submits from `clients` concurrent clients, each sending its next at once;
 * `extraBody` is merged into every request body.
 */
export async function submitBackground(
  client: HttpClient,
  options: {
    readonly count: number;
    readonly offset: number;
    readonly clients: number;
    readonly extraBody?: Readonly<Record<string, unknown>>;
  },
): Promise<SubmitRun> {
  const ids: string[] = [];
  const errors: string[] = [];
  const latencies = createLatencyRecorder(options.count);
  let next = 0;
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: options.clients }, async () => {
      for (let index = next++; index < options.count; index = next++) {
        const reply = await client.request("POST", "/v1/responses", {
          body: {
            model: BENCH_MODEL,
            input: inputFor(options.offset + index),
            background: true,
            ...options.extraBody,
          },
        });
        latencies.record(reply.elapsedMs);
        if (reply.status !== 200) {
          errors.push(`${reply.status} ${reply.text.slice(0, 300)}`);
          continue;
        }
        const body = JSON.parse(reply.text) as { id: string; status: string };
        if (body.status !== "queued") {
          errors.push(`submit answered status '${body.status}', expected 'queued'`);
        }
        ids.push(body.id);
      }
    }),
  );
  return { ids, latencies, errors, startedAt, endedAt: performance.now() };
}

interface HealthBody {
  readonly backends: readonly { queued: number; in_flight: number }[];
}

const HEALTH_POLL_MS = 2;

/**
 * Polls /health until no backend has work queued or in flight; returns when that was first seen.
 * One /health is a single COUNT query, so polling it costs ferry next to nothing.
 */
export async function waitUntilIdle(
  client: HttpClient,
  timeoutMs: number,
): Promise<{ at: number; polls: number }> {
  const deadline = performance.now() + timeoutMs;
  let polls = 0;
  for (;;) {
    const health = await client.json<HealthBody>("GET", "/health");
    polls += 1;
    const busy = health.backends.reduce((sum, b) => sum + b.queued + b.in_flight, 0);
    if (busy === 0) {
      return { at: performance.now(), polls };
    }
    if (performance.now() > deadline) {
      throw new Error(`work still queued or in flight (${busy}) after ${timeoutMs} ms`);
    }
    await sleep(HEALTH_POLL_MS);
  }
}
