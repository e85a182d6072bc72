import { Hono } from "hono";
import { CreateResponseRequestSchema } from "../contract/responses-request.js";
import type { Logger } from "../lib/logger.js";
import type { ResponsesService } from "../services/responses.js";
import type { AppEnv } from "./app-env.js";
import { abortOnClientGone } from "./client-gone.js";
import { readJsonBody, readQuery } from "./json-body.js";
import { listQuerySchema } from "./pagination.js";
import { writeSse } from "./sse.js";

const InputItemsQuerySchema = listQuerySchema({
  maxLimit: 100,
  defaultLimit: 20,
  defaultOrder: "desc",
});

export function responsesRoutes(deps: { responses: ResponsesService; logger: Logger }) {
  const { responses, logger } = deps;
  return new Hono<AppEnv>()
    .post("/", async (c) => {
      const request = await readJsonBody(c, CreateResponseRequestSchema);
      const prepared = responses.prepare(c.get("projectId"), request);
      return abortOnClientGone(c, async (controller) => {
        if (request.stream === true) {
          const events = await responses.stream(prepared, controller.signal);
          return writeSse(c, events, { controller, framing: "named", logger });
        }
        return c.json(await responses.complete(prepared, controller.signal));
      });
    })
    .get("/:id", (c) => c.json(responses.retrieve(c.get("projectId"), c.req.param("id"))))
    .delete("/:id", (c) => c.json(responses.delete(c.get("projectId"), c.req.param("id"))))
    .get("/:id/input_items", (c) => {
      const query = readQuery(c, InputItemsQuerySchema);
      return c.json(responses.listInputItems(c.get("projectId"), c.req.param("id"), query));
    });
}
