import type { Router } from "../backends/router.js";
import type { WorkStore } from "../store/work-items.js";

export interface BackendHealth {
  name: string;
  type: string;
  /** False after the last call could not reach the backend (connection refused, timeout). */
  reachable: boolean;
  in_flight: number;
  max_concurrency: number;
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
          queued: (queued.get(route.backend.name) ?? 0) + route.limiter.waiting(),
        })),
      };
    },
  };
}
