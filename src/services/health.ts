import type { Router } from "../backends/router.js";
import type { WorkStore } from "../store/work-items.js";

export interface BackendHealth {
  name: string;
  type: string;
  /** False after the last call could not reach the backend (connection refused, timeout). */
  reachable: boolean;
  in_flight: number;
  /** The ceiling (the configured max_concurrency). */
  max_concurrency: number;
  /** Calls allowed at once now: found within max_concurrency when adaptive, equal to it if not. */
  concurrency_limit: number;
  /** Whether concurrency_limit adapts to the upstream's latency and overload answers. */
  adaptive: boolean;
  /** Slots of concurrency_limit kept free of batch work (for interactive requests). */
  interactive_reserve: number;
  /** Work waiting in the durable queue plus callers waiting for a slot. */
  queued: number;
}

export function createHealthService(deps: { router: Router; work: WorkStore }) {
  return {
    check(): { status: "ok"; backends: BackendHealth[] } {
      const queued = deps.work.countQueuedByBackend();
      return {
        status: "ok",
        backends: deps.router.routes().map((route) => ({
          name: route.backend.name,
          type: route.type,
          reachable: route.reachability.isReachable(),
          in_flight: route.limiter.inFlight(),
          max_concurrency: route.limiter.max,
          concurrency_limit: route.limiter.estimate(),
          adaptive: route.limiter.isAdaptive,
          interactive_reserve: route.limiter.reserve(),
          queued: (queued.get(route.backend.name) ?? 0) + route.limiter.waiting(),
        })),
      };
    },
  };
}
