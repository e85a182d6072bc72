import { Hono } from "hono";
import { z } from "zod";
import { DELIVERY_STATUSES, type DeliveryLog } from "../webhooks/delivery-log.js";
import type { AppEnv } from "./app-env.js";
import { readQuery } from "./json-body.js";

const ListQuerySchema = z.looseObject({
  endpoint_id: z.string().min(1).optional(),
  status: z.enum(DELIVERY_STATUSES).optional(),
  after: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

/**
 * `GET /v1/webhook_deliveries` (newest first; endpoint_id, status, after, limit) and
 * `GET /v1/webhook_deliveries/{id}` with every attempt: what ferry sent, to where, and how it
 * went. A ferry extension (OpenAI shows this in its dashboard only); project-scoped.
 */
export function webhookDeliveriesRoutes(deps: { deliveries: DeliveryLog }) {
  const { deliveries } = deps;
  return new Hono<AppEnv>()
    .get("/", (c) => c.json(deliveries.list(c.get("projectId"), readQuery(c, ListQuerySchema))))
    .get("/:id", (c) => c.json(deliveries.retrieve(c.get("projectId"), c.req.param("id"))));
}
