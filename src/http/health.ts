import { Hono } from "hono";
import type { AppEnv } from "./app-env.js";

/** Liveness for load balancers and `curl`: answers without touching auth. */
export function healthRoutes() {
  return new Hono<AppEnv>().get("/", (c) => c.json({ status: "ok" }));
}
