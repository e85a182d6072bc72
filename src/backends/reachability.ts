import { type Backend, BackendError } from "./backend.js";

/**
 * Whether a backend answered its last call. Unreachable means the last call got no HTTP answer
 * at all (connection refused, reset, timeout); an HTTP error still proves it is up. Starts
 * reachable: nothing is known until the first call.
 */
export interface Reachability {
  isReachable(): boolean;
}

const UNREACHABLE_CODES = new Set(["connection_error", "timeout"]);

export function trackReachability(backend: Backend): {
  backend: Backend;
  reachability: Reachability;
} {
  let isReachable = true;
  const observe = (thrown: unknown) => {
    if (thrown instanceof BackendError) {
      // A mid-stream error frame also has no status, but it came from a live upstream.
      isReachable = !UNREACHABLE_CODES.has(thrown.code ?? "");
    }
  };
  return {
    reachability: { isReachable: () => isReachable },
    backend: {
      name: backend.name,
      ...(backend.native === undefined ? {} : { native: backend.native }),
      async generate(request, signal) {
        try {
          const result = await backend.generate(request, signal);
          isReachable = true;
          return result;
        } catch (thrown) {
          observe(thrown);
          throw thrown;
        }
      },
      async *streamGenerate(request, signal) {
        try {
          for await (const event of backend.streamGenerate(request, signal)) {
            isReachable = true;
            yield event;
          }
        } catch (thrown) {
          observe(thrown);
          throw thrown;
        }
      },
      async embed(request, signal) {
        try {
          const result = await backend.embed(request, signal);
          isReachable = true;
          return result;
        } catch (thrown) {
          observe(thrown);
          throw thrown;
        }
      },
    },
  };
}
