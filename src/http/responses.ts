import { type Context, Hono } from "hono";
import { z } from "zod";
import { CreateResponseRequestSchema } from "../contract/responses-request.js";
import { createJsonMemberCache } from "../lib/json-member-cache.js";
import { stringifyReusingTexts } from "../lib/json-text.js";
import type { Logger } from "../lib/logger.js";
import type { FuturesService } from "../services/futures.js";
import type { ResponsesService } from "../services/responses.js";
import type { AppEnv } from "./app-env.js";
import { abortOnClientGone, whileClientConnected } from "./client-gone.js";
import { readJsonBody, readQuery } from "./json-body.js";
import type { LongPollLimiter } from "./long-poll-limit.js";
import { answerAsFuture } from "./octoai/futures.js";
import { listQuerySchema } from "./pagination.js";
import { writeSse } from "./sse.js";
import { answerAfterWait, WaitMsSchema } from "./wait-for-object.js";

const InputItemsQuerySchema = listQuerySchema({
  maxLimit: 100,
  defaultLimit: 20,
  defaultOrder: "desc",
});

const ListQuerySchema = z.looseObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().min(1).optional(),
  stream_id: z.string().min(1).optional(),
});

const RetrieveQuerySchema = z.looseObject({
  stream: z.enum(["true", "false"]).optional(),
  starting_after: z.coerce.number().int().min(0).optional(),
  // Ignored with stream=true: the stream itself waits for the end.
  wait_ms: WaitMsSchema,
});

export function responsesRoutes(deps: {
  responses: ResponsesService;
  futures: FuturesService;
  logger: Logger;
  writeTimeoutMs: number;
  /** Caps the long-polls (wait_ms) each key holds open; omitted, no cap. */
  longPolls?: LongPollLimiter;
}) {
  const { responses, logger, writeTimeoutMs, longPolls } = deps;
  // Clients send the same tools and text format with every request: parsed and validated once
  // per distinct text (json-member-cache.ts), and shared, so everything after the parse (schema
  // checks, the mock's answers, the Response and the stored row) finds them known.
  const repeatedMembers = createJsonMemberCache({
    keys: ["tools", "text"],
    keyOrder: Object.keys(CreateResponseRequestSchema.shape),
  });
  return new Hono<AppEnv>()
    .post("/", async (c) => {
      const request = await readJsonBody(c, CreateResponseRequestSchema, {
        members: repeatedMembers,
      });
      const future = await answerAsFuture(c, deps.futures, "/v1/responses", request);
      if (future !== null) {
        return future;
      }
      const prepared = await responses.prepare(c.get("projectId"), request);
      if (prepared.background) {
        const queued = await responses.enqueue(prepared);
        if (!prepared.stream) {
          return jsonReusingTexts(c, queued);
        }
        const controller = new AbortController();
        const events = responses.events(c.get("projectId"), queued.id, -1, controller.signal);
        return writeSse(c, events, { controller, framing: "named", logger, writeTimeoutMs });
      }
      if (prepared.stream) {
        return abortOnClientGone(c, async (controller) => {
          const events = await responses.stream(prepared, controller.signal);
          return writeSse(c, events, { controller, framing: "named", logger, writeTimeoutMs });
        });
      }
      return jsonReusingTexts(
        c,
        await whileClientConnected(c, (signal) => responses.complete(prepared, signal)),
      );
    })
    .get("/", (c) => {
      const query = readQuery(c, ListQuerySchema);
      return c.json(
        responses.list(c.get("projectId"), {
          limit: query.limit,
          after: query.after,
          streamId: query.stream_id,
        }),
      );
    })
    .get("/:id", async (c) => {
      const query = readQuery(c, RetrieveQuerySchema);
      if (query.stream !== "true") {
        const projectId = c.get("projectId");
        const id = c.req.param("id");
        // A response that has ended answers at once; only an active one takes a slot.
        const current = responses.retrieve(projectId, id);
        const isActive = current.status === "queued" || current.status === "in_progress";
        return c.json(
          await answerAfterWait(
            c,
            longPolls,
            isActive ? query.wait_ms : 0,
            () => current,
            (signal) => responses.retrieveWhenEnded(projectId, id, query.wait_ms, signal),
          ),
        );
      }
      const controller = new AbortController();
      const events = responses.events(
        c.get("projectId"),
        c.req.param("id"),
        query.starting_after ?? -1,
        controller.signal,
      );
      return writeSse(c, events, { controller, framing: "named", logger, writeTimeoutMs });
    })
    .delete("/:id", (c) => c.json(responses.delete(c.get("projectId"), c.req.param("id"))))
    .post("/:id/cancel", (c) => c.json(responses.cancel(c.get("projectId"), c.req.param("id"))))
    .get("/:id/input_items", (c) => {
      const query = readQuery(c, InputItemsQuerySchema);
      return c.json(responses.listInputItems(c.get("projectId"), c.req.param("id"), query));
    });
}

/**
 * c.json, but a Response echoes the request's tools and format, and their schemas' text is
 * known already (see json-text.ts): the same bytes, without encoding the schemas again.
 */
function jsonReusingTexts(c: Context<AppEnv>, value: unknown): Response {
  return c.body(stringifyReusingTexts(value), 200, { "content-type": "application/json" });
}
