import { Hono } from "hono";
import { z } from "zod";
import type { StreamsService } from "../services/streams.js";
import type { AppEnv } from "./app-env.js";
import { whileClientConnected } from "./client-gone.js";
import { readJsonBody, readQuery } from "./json-body.js";
import { acquireLongPoll, type LongPollLimiter } from "./long-poll-limit.js";

const CreateStreamSchema = z.strictObject({
  name: z.string().trim().min(1).max(256),
  window: z.enum(["1h", "24h"]).default("24h"),
});

const UpdateStreamSchema = z.strictObject({ status: z.enum(["cancelled", "archived"]) });

const ListQuerySchema = z.looseObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().min(1).optional(),
});

/** Long-polls are capped at 30 s, as the seed's API documents. */
export const MAX_WAIT_MS = 30_000;

const EventsQuerySchema = z
  .looseObject({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    starting_after: z.string().min(1).optional(),
    ending_before: z.string().min(1).optional(),
    wait_ms: z.coerce.number().int().min(0).max(MAX_WAIT_MS).default(0),
  })
  .refine((query) => query.starting_after === undefined || query.ending_before === undefined, {
    message: "give at most one of 'starting_after' and 'ending_before'",
    path: ["ending_before"],
  });

export function streamsRoutes(deps: {
  streams: StreamsService;
  /** Caps the long-polls each key holds open; omitted, no cap (a route tested on its own). */
  longPolls?: LongPollLimiter;
}) {
  const { streams, longPolls } = deps;
  return new Hono<AppEnv>()
    .post("/", async (c) => {
      const request = await readJsonBody(c, CreateStreamSchema);
      return c.json(streams.create(c.get("projectId"), request));
    })
    .get("/", (c) => c.json(streams.list(c.get("projectId"), readQuery(c, ListQuerySchema))))
    .get("/:id", (c) => c.json(streams.retrieve(c.get("projectId"), c.req.param("id"))))
    .patch("/:id", async (c) => {
      const request = await readJsonBody(c, UpdateStreamSchema);
      return c.json(streams.update(c.get("projectId"), c.req.param("id"), request.status));
    })
    .get("/:id/events", async (c) => {
      const query = readQuery(c, EventsQuerySchema);
      // Each key holds a bounded number of waiting requests; a wait costs a connection only.
      const release = query.wait_ms > 0 ? acquireLongPoll(c, longPolls) : () => {};
      try {
        return c.json(
          await whileClientConnected(c, (signal) =>
            streams.events(
              c.get("projectId"),
              c.req.param("id"),
              {
                limit: query.limit,
                startingAfter: query.starting_after,
                endingBefore: query.ending_before,
                waitMs: query.wait_ms,
              },
              signal,
            ),
          ),
        );
      } finally {
        release();
      }
    });
}
