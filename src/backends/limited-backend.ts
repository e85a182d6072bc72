import type { Backend } from "./backend.js";
import type { Limiter } from "./limiter.js";

/**
 * Wraps a backend so that every call holds one of its limiter's slots for its whole duration,
 * streams included (the slot is released when the stream ends, fails or is abandoned).
 */
export function limitBackend(backend: Backend, limiter: Limiter): Backend {
  return {
    name: backend.name,
    ...(backend.native === undefined ? {} : { native: backend.native }),
    async generate(request, signal) {
      const release = await limiter.acquire(signal);
      try {
        return await backend.generate(request, signal);
      } finally {
        release();
      }
    },
    async *streamGenerate(request, signal) {
      const release = await limiter.acquire(signal);
      try {
        yield* backend.streamGenerate(request, signal);
      } finally {
        release();
      }
    },
    async embed(request, signal) {
      const release = await limiter.acquire(signal);
      try {
        return await backend.embed(request, signal);
      } finally {
        release();
      }
    },
  };
}
