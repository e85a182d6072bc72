import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app-env.js";

export const DEFAULT_PROJECT_ID = "default";

/**
 * Decides who a request acts for. With no API keys configured (today's only mode) every request
 * is accepted, with a Bearer token, an X-API-Key or nothing, and acts for the default project:
 * ferry as a local stand-in for the OpenAI API. Keys and scopes will be checked here.
 */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async function authMiddleware(c, next) {
    c.set("projectId", DEFAULT_PROJECT_ID);
    await next();
  };
}
