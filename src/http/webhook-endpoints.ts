import type { Context } from "hono";
import { Hono } from "hono";
import { z } from "zod";
import {
  CreateWebhookEndpointSchema,
  RotateWebhookSecretSchema,
  TestWebhookEndpointSchema,
  UpdateWebhookEndpointSchema,
} from "../contract/webhook-endpoints.js";
import type { WebhookEndpoints } from "../webhooks/endpoints.js";
import type { WebhookEventType } from "../webhooks/event-types.js";
import type { AppEnv } from "./app-env.js";
import { readJsonBody, readQuery } from "./json-body.js";

const ListQuerySchema = z.looseObject({
  after: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

/**
 * `/v1/webhook_endpoints`, exactly as the openai 7.x SDK calls it: create, list (newest first,
 * `after` / `limit`), retrieve, update (POST), delete, rotate_secret and test.
 */
export function webhookEndpointsRoutes(deps: { endpoints: WebhookEndpoints }) {
  const { endpoints } = deps;
  return new Hono<AppEnv>()
    .post("/", async (c) => {
      const body = await readJsonBody(c, CreateWebhookEndpointSchema);
      return c.json(await endpoints.create(c.get("projectId"), body));
    })
    .get("/", (c) => c.json(endpoints.list(c.get("projectId"), readQuery(c, ListQuerySchema))))
    .get("/:id", (c) => c.json(endpoints.retrieve(c.get("projectId"), c.req.param("id"))))
    .post("/:id", async (c) => {
      const body = await readOptionalJsonBody(c, UpdateWebhookEndpointSchema);
      return c.json(await endpoints.update(c.get("projectId"), c.req.param("id"), body));
    })
    .delete("/:id", (c) => c.json(endpoints.delete(c.get("projectId"), c.req.param("id"))))
    .post("/:id/rotate_secret", async (c) => {
      const body = await readOptionalJsonBody(c, RotateWebhookSecretSchema);
      return c.json(
        endpoints.rotateSecret(c.get("projectId"), c.req.param("id"), {
          keepOldSecretFor24Hours: body.keep_old_secret_active_for_24_hours === true,
        }),
      );
    })
    .post("/:id/test", async (c) => {
      const body = await readJsonBody(c, TestWebhookEndpointSchema);
      return c.json(
        await endpoints.test(
          c.get("projectId"),
          c.req.param("id"),
          body.event_type as WebhookEventType,
        ),
      );
    });
}

/** `GET /v1/webhook_event_types`: what `client.webhooks.eventTypes.list()` reads. */
export function webhookEventTypesRoutes(deps: { endpoints: WebhookEndpoints }) {
  return new Hono<AppEnv>().get("/", (c) => c.json(deps.endpoints.eventTypes()));
}

/**
 * The SDK sends `{}` when a call has no options; cURL users often send nothing at all. No body
 * (and no content type) reads as `{}`; anything else must be JSON that fits.
 */
async function readOptionalJsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
): Promise<z.infer<S>> {
  const length = c.req.header("content-length");
  const hasBody =
    c.req.header("content-type") !== undefined ||
    (length !== undefined && length !== "0") ||
    c.req.header("transfer-encoding") !== undefined;
  return hasBody ? readJsonBody(c, schema) : schema.parse({});
}
