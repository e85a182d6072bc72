import { serve } from "@hono/node-server";
import { Hono } from "hono";

/**
 * The ceiling ferry is compared against: the same framework and adapter on the same machine,
 * doing no work beyond reading the JSON body and answering a small fixed object. Run as a child
 * process by lib/bare-hono.ts with PORT and HOST set.
 */

const REPLY = { id: "resp_bare", object: "response", status: "completed" } as const;

const app = new Hono()
  .get("/health", (c) => c.json({ status: "ok" }))
  .post("/v1/responses", async (c) => {
    await c.req.json();
    return c.json(REPLY);
  });

serve({
  fetch: app.fetch,
  port: Number(process.env.PORT),
  hostname: process.env.HOST ?? "127.0.0.1",
});

// Exit through process.exit so `--cpu-prof` can write its profile; the default SIGTERM action
// kills the process before any exit hook runs.
process.once("SIGTERM", () => process.exit(0));
