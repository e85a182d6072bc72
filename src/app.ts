import { Hono } from "hono";
import type { Config } from "./config.js";
import type { AppEnv } from "./http/app-env.js";
import { authenticate, authRoutes } from "./http/auth.js";
import { batchesRoutes } from "./http/batches.js";
import { limitBody } from "./http/body-limit.js";
import { chatCompletionsRoutes } from "./http/chat-completions.js";
import { completionsRoutes } from "./http/completions.js";
import { embeddingsRoutes } from "./http/embeddings.js";
import { createErrorHandler } from "./http/errors.js";
import { filesRoutes } from "./http/files.js";
import { healthRoutes } from "./http/health.js";
import { createLongPollLimiter } from "./http/long-poll-limit.js";
import { modelsRoutes } from "./http/models.js";
import { futuresRoutes } from "./http/octoai/futures.js";
import { createRateLimiter } from "./http/rate-limit.js";
import { requestId } from "./http/request-id.js";
import { responsesRoutes } from "./http/responses.js";
import { streamsRoutes } from "./http/streams.js";
import { webhookDeliveriesRoutes } from "./http/webhook-deliveries.js";
import { webhookEndpointsRoutes, webhookEventTypesRoutes } from "./http/webhook-endpoints.js";
import { ApiError } from "./lib/api-error.js";
import type { Logger } from "./lib/logger.js";
import type { Services } from "./services/create-services.js";

export interface AppDeps {
  readonly config: Config;
  readonly services: Services;
  readonly logger: Logger;
}

/** Builds the HTTP app over its dependencies. No module state and no listening: tests call `app.request()`. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const { config, services, logger } = deps;
  const app = new Hono<AppEnv>();
  app.onError(createErrorHandler(logger));
  app.notFound((c) => {
    throw ApiError.notFound(
      `Unknown request URL: ${c.req.method} ${c.req.path}. Please check the URL and method.`,
    );
  });
  app.use(requestId());
  app.route("/health", healthRoutes({ health: services.health }));

  const v1 = new Hono<AppEnv>();
  // Keys, rate limit and scopes for every /v1 route (the table is in http/scopes.ts).
  v1.use(
    authenticate({
      apiKeys: services.apiKeys,
      rateLimiter: createRateLimiter({
        requestsPerMinute: config.limits.requestsPerMinute,
        clock: services.clock,
      }),
    }),
  );
  v1.route("/auth", authRoutes());
  // Uploads stream to disk under the files service's own limits (512 MB), so the files routes
  // come before the JSON body limit below, which applies only to routes mounted after it.
  // One allowance per key, shared by every route that long-polls (wait_ms).
  const longPolls = createLongPollLimiter({ maxPerKey: config.limits.maxConcurrentLongPolls });
  v1.route("/files", filesRoutes({ files: services.files, logger }));
  // A JSONL body posted straight to /v1/batches streams to a file like an upload.
  v1.route(
    "/batches",
    batchesRoutes({
      batches: services.batches,
      maxJsonBodyBytes: config.limits.maxBodyBytes,
      maxJsonlBodyBytes: config.batches.maxInputBytes,
      logger,
      longPolls,
    }),
  );
  v1.use(limitBody(config.limits.maxBodyBytes));
  const sse = { logger, writeTimeoutMs: config.streaming.writeTimeoutMs };
  const { futures } = services;
  v1.route(
    "/responses",
    responsesRoutes({ responses: services.responses, futures, longPolls, ...sse }),
  );
  v1.route("/chat/completions", chatCompletionsRoutes({ chat: services.chat, futures, ...sse }));
  v1.route(
    "/completions",
    completionsRoutes({ completions: services.completions, futures, ...sse }),
  );
  v1.route("/embeddings", embeddingsRoutes({ embeddings: services.embeddings, futures }));
  v1.route("/futures", futuresRoutes({ futures }));
  v1.route("/models", modelsRoutes({ models: services.models }));
  v1.route(
    "/streams",
    streamsRoutes({
      streams: services.streams,
      longPolls,
    }),
  );
  v1.route("/webhook_endpoints", webhookEndpointsRoutes({ endpoints: services.webhookEndpoints }));
  v1.route(
    "/webhook_event_types",
    webhookEventTypesRoutes({ endpoints: services.webhookEndpoints }),
  );
  v1.route(
    "/webhook_deliveries",
    webhookDeliveriesRoutes({ deliveries: services.webhookDeliveries }),
  );
  app.route("/v1", v1);
  return app;
}
