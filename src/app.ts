import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Config } from "./config.js";
import type { AppEnv } from "./http/app-env.js";
import { authenticate } from "./http/auth.js";
import { chatCompletionsRoutes } from "./http/chat-completions.js";
import { embeddingsRoutes } from "./http/embeddings.js";
import { createErrorHandler } from "./http/errors.js";
import { healthRoutes } from "./http/health.js";
import { modelsRoutes } from "./http/models.js";
import { requestId } from "./http/request-id.js";
import { responsesRoutes } from "./http/responses.js";
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
  v1.use(
    bodyLimit({
      maxSize: config.limits.maxBodyBytes,
      onError: () => {
        throw ApiError.tooLarge(
          `The request body is larger than the limit of ${config.limits.maxBodyBytes} bytes.`,
        );
      },
    }),
  );
  v1.use(authenticate());
  v1.route("/responses", responsesRoutes({ responses: services.responses, logger }));
  v1.route("/chat/completions", chatCompletionsRoutes({ chat: services.chat, logger }));
  v1.route("/embeddings", embeddingsRoutes({ embeddings: services.embeddings }));
  v1.route("/models", modelsRoutes({ models: services.models }));
  app.route("/v1", v1);
  return app;
}
