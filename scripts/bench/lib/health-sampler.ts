import { createHttpClient } from "./http-client.js";

/**
 * Polls ferry's `GET /health` while a run goes on and keeps, for one backend, its in-flight count
 * and its current concurrency limit (`concurrency_limit`, present where adaptive concurrency
 * exists), so a bench can say where an adaptive limit settled.
 */

export interface HealthSample {
  /** Milliseconds since the sampler started. */
  readonly atMs: number;
  readonly inFlight: number;
  /** null: this build's /health has no adaptive limit for the backend. */
  readonly limit: number | null;
  /** Slots of the limit kept free of batch work (`interactive_reserve`); null: none reported. */
  readonly reserve: number | null;
}

export interface HealthSampler {
  /** Stops polling and returns every sample taken. */
  stop(): Promise<HealthSample[]>;
}

interface HealthBody {
  readonly backends?: readonly Record<string, unknown>[];
}

export function startHealthSampler(
  ferryUrl: string,
  backendName: string,
  intervalMs = 100,
): HealthSampler {
  const client = createHttpClient(ferryUrl, { maxSockets: 1 });
  const samples: HealthSample[] = [];
  const startedAt = performance.now();
  let isStopped = false;
  const loop = (async () => {
    while (!isStopped) {
      try {
        const body = await client.json<HealthBody>("GET", "/health", { timeoutMs: 5_000 });
        const entry = body.backends?.find((backend) => backend.name === backendName);
        if (entry !== undefined) {
          samples.push({
            atMs: performance.now() - startedAt,
            inFlight: typeof entry.in_flight === "number" ? entry.in_flight : 0,
            limit: typeof entry.concurrency_limit === "number" ? entry.concurrency_limit : null,
            reserve:
              typeof entry.interactive_reserve === "number" ? entry.interactive_reserve : null,
          });
        }
      } catch {
        // A slow answer under load is a missing sample, not a failed bench.
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      isStopped = true;
      await loop;
      client.close();
      return samples;
    },
  };
}
