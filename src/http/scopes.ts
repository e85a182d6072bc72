import type { ApiKeyScope } from "../contract/api-keys.js";

/**
 * What a route needs: a scope, any valid key ("any-key"), or nothing ("public", which skips
 * authentication altogether).
 */
export type AccessRule = ApiKeyScope | "any-key" | "public";

/**
 * Every /v1 route, by its method and its path exactly as registered, and what it needs. This is
 * the one place scopes are assigned. A route that is not listed is refused (403) even to a valid
 * key: a new route must be added here before anyone can call it.
 */
const ROUTE_ACCESS = new Map<string, AccessRule>([
  ["POST /v1/responses", "responses:write"],
  ["GET /v1/responses", "responses:read"],
  ["GET /v1/responses/:id", "responses:read"],
  ["DELETE /v1/responses/:id", "responses:write"],
  ["POST /v1/responses/:id/cancel", "responses:write"],
  ["GET /v1/responses/:id/input_items", "responses:read"],
  // Synchronous inference is the responses family too.
  ["POST /v1/chat/completions", "responses:write"],
  ["POST /v1/completions", "responses:write"],
  ["POST /v1/embeddings", "responses:write"],
  // OctoAI futures (X-OctoAI-Async: 1 on the POSTs above): polled and read like a response.
  ["GET /v1/futures/:id", "responses:read"],
  ["GET /v1/futures/:id/result", "responses:read"],

  ["POST /v1/files", "files:write"],
  ["GET /v1/files", "files:read"],
  ["GET /v1/files/:id", "files:read"],
  ["DELETE /v1/files/:id", "files:write"],
  ["GET /v1/files/:id/content", "files:read"],

  // Creating a batch from an input_file_id needs only batches:write; the file must still be
  // the same project's.
  ["POST /v1/batches", "batches:write"],
  ["GET /v1/batches", "batches:read"],
  ["GET /v1/batches/:id", "batches:read"],
  ["POST /v1/batches/:id/cancel", "batches:write"],
  ["GET /v1/batches/:id/results", "batches:read"],
  ["GET /v1/batches/:id/results.jsonl", "batches:read"],

  ["POST /v1/streams", "streams:write"],
  ["GET /v1/streams", "streams:read"],
  ["GET /v1/streams/:id", "streams:read"],
  ["PATCH /v1/streams/:id", "streams:write"],
  ["GET /v1/streams/:id/events", "streams:read"],

  ["POST /v1/webhook_endpoints", "webhooks:write"],
  ["GET /v1/webhook_endpoints", "webhooks:read"],
  ["GET /v1/webhook_endpoints/:id", "webhooks:read"],
  ["POST /v1/webhook_endpoints/:id", "webhooks:write"],
  ["DELETE /v1/webhook_endpoints/:id", "webhooks:write"],
  ["POST /v1/webhook_endpoints/:id/rotate_secret", "webhooks:write"],
  ["POST /v1/webhook_endpoints/:id/test", "webhooks:write"],
  ["GET /v1/webhook_event_types", "webhooks:read"],
  // What ferry delivered to webhook endpoints and callbacks, and every attempt.
  ["GET /v1/webhook_deliveries", "webhooks:read"],
  ["GET /v1/webhook_deliveries/:id", "webhooks:read"],

  ["GET /v1/models", "any-key"],
  ["GET /v1/models/:id{.+}", "any-key"],

  ["GET /v1/auth/me", "any-key"],
  // Answers 404 (ferry has no user accounts); public so that a client without a key learns that.
  ["POST /v1/auth/login", "public"],
]);

/** The rule for a registered route (`GET`, `/v1/files/:id`), or undefined: refuse. */
export function accessRuleFor(method: string, routePath: string): AccessRule | undefined {
  return ROUTE_ACCESS.get(`${method} ${routePath}`);
}

/** Every listed route as `METHOD /path`, for tests that check the table against the app. */
export function listedRoutes(): string[] {
  return [...ROUTE_ACCESS.keys()];
}
