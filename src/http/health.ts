import { Hono } from "hono";
import type { createHealthService } from "../services/health.js";
import type { AppEnv } from "./app-env.js";

/** Liveness for load balancers and `curl`, with each backend's state. Answers without auth. */
export function healthRoutes(deps: { health: ReturnType<typeof createHealthService> }) {
  return new Hono<AppEnv>().get("/", (c) => c.json(deps.health.check()));
}
