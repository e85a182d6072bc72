import { z } from "zod";
import { isWebhookEventType, WEBHOOK_EVENT_TYPES } from "../webhooks/event-types.js";

/**
 * The bodies of `/v1/webhook_endpoints` as the openai 7.x SDK sends them (`client.webhooks.*`).
 * Event types are only those ferry sends: subscribing to one it never emits (fine-tuning, evals)
 * would look set up and stay silent, so it is a 400 that lists what ferry has.
 */
/** One event type ferry sends (also the config file's `webhooks.endpoints[].event_types`). */
export const WebhookEventTypeSchema = z.string().refine((type) => isWebhookEventType(type), {
  error: (issue) =>
    `ferry does not send '${String(issue.input)}' events; it sends: ${WEBHOOK_EVENT_TYPES.join(", ")}`,
});

const EventTypesSchema = z
  .array(WebhookEventTypeSchema)
  .min(1, "give at least one event type")
  .max(WEBHOOK_EVENT_TYPES.length * 4)
  .transform((types) => [...new Set(types)]);

const NameSchema = z.string().trim().min(1, "give the endpoint a name").max(256);
const UrlSchema = z.string().min(1).max(2048);

export const CreateWebhookEndpointSchema = z.strictObject({
  name: NameSchema,
  url: UrlSchema,
  event_types: EventTypesSchema,
});

export const UpdateWebhookEndpointSchema = z.strictObject({
  name: NameSchema.optional(),
  url: UrlSchema.optional(),
  event_types: EventTypesSchema.optional(),
});

export const RotateWebhookSecretSchema = z.strictObject({
  keep_old_secret_active_for_24_hours: z.boolean().optional(),
});

export const TestWebhookEndpointSchema = z.strictObject({
  event_type: WebhookEventTypeSchema,
});

export type CreateWebhookEndpoint = z.infer<typeof CreateWebhookEndpointSchema>;
export type UpdateWebhookEndpoint = z.infer<typeof UpdateWebhookEndpointSchema>;
