import { type Context, Hono, type MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { RouterRoute } from "hono/types";
import { grantsScope, maskApiKey } from "../contract/api-keys.js";
import { ApiError } from "../lib/api-error.js";
import { type ApiKeysService, type Identity, OPEN_IDENTITY } from "../services/api-keys.js";
import type { AppEnv } from "./app-env.js";
import { type RateLimiter, rateLimitError, rateLimitHeaders } from "./rate-limit.js";
import { type AccessRule, accessRuleFor } from "./scopes.js";

export { DEFAULT_PROJECT_ID } from "../services/api-keys.js";

declare module "hono" {
  interface ContextVariableMap {
    /** Who the request acts for; set by authenticate() on every /v1 route that is not public. */
    identity: Identity;
  }
}

export interface AuthDeps {
  /** Omitted: every request is the open-mode identity (a route tested on its own). */
  readonly apiKeys?: Pick<ApiKeysService, "isOpen" | "resolve">;
  /** Omitted or null: no rate limit. */
  readonly rateLimiter?: RateLimiter | null;
}

// Final answers: the SDKs must not retry a request that will fail the same way.
const FINAL = { "x-should-retry": "false" } as const;

/**
 * The /v1 gate, in this order:
 * 1. The route's rule (scopes.ts) from the route hono matched; a public route skips the rest.
 * 2. The key, from `Authorization: Bearer` or `X-API-Key` (401 if missing, unknown or revoked),
 *    unless the server is in open mode. It sets `identity` and `projectId`.
 * 3. The key's rate limit (429), with x-ratelimit-* headers on every answer.
 * 4. The scope (403). A matched route with no rule is refused; a URL that matches no route
 *    goes on to the 404.
 */
export function authenticate(deps: AuthDeps = {}): MiddlewareHandler<AppEnv> {
  const { apiKeys, rateLimiter = null } = deps;
  return async function authMiddleware(c, next) {
    const route = findHandlerRoute(c);
    const rule = route === null ? undefined : accessRuleFor(route.method, route.path);
    if (rule === "public") {
      await next();
      return;
    }
    const identity =
      apiKeys === undefined || apiKeys.isOpen() ? OPEN_IDENTITY : identify(c, apiKeys);
    c.set("identity", identity);
    c.set("projectId", identity.projectId);
    if (rateLimiter !== null && identity.limitKey !== null) {
      const decision = rateLimiter.take(identity.limitKey);
      for (const [name, value] of Object.entries(rateLimitHeaders(decision))) {
        c.header(name, value);
      }
      if (!decision.isAllowed) {
        throw rateLimitError(decision, identity.keyPrefix ?? identity.limitKey);
      }
    }
    if (route !== null) {
      authorize(route, rule, identity);
    }
    await next();
  };
}

/** 403 unless the rule lets this identity in; a route without a rule lets no one in. */
function authorize(route: RouterRoute, rule: AccessRule | undefined, identity: Identity): void {
  if (rule === undefined) {
    throw new ApiError(403, `${route.method} ${route.path} is not open to any API key scope.`, {
      code: "insufficient_scope",
      headers: FINAL,
    });
  }
  if (rule !== "any-key" && rule !== "public" && !grantsScope(identity.scopes, rule)) {
    throw new ApiError(
      403,
      `This API key lacks the '${rule}' scope, which ${route.method} ${route.path} needs.`,
      { code: "insufficient_scope", headers: FINAL },
    );
  }
}

/** `/v1/auth/me` and `/v1/auth/login`. */
export function authRoutes() {
  return new Hono<AppEnv>()
    .get("/me", (c) => {
      const identity = c.get("identity");
      return c.json({
        object: "auth.identity",
        project_id: identity.projectId,
        key_id: identity.keyId,
        name: identity.name,
        key_prefix: identity.keyPrefix,
        scopes: identity.scopes,
      });
    })
    .post("/login", () => {
      throw ApiError.notFound(
        "ferry has no user accounts, so there is no login: send an API key as 'Authorization: Bearer sk-…' or 'X-API-Key: sk-…' (create one with 'ferry keys create').",
      );
    });
}

/**
 * The route that will answer: the first matched route that is not middleware (`use()`
 * registers method ALL on a path ending in `*`). Null when nothing matches, i.e. a 404.
 */
function findHandlerRoute(c: Context): RouterRoute | null {
  for (const route of matchedRoutes(c)) {
    if (route.method !== "ALL" || !route.path.endsWith("*")) {
      return route;
    }
  }
  return null;
}

function identify(c: Context, apiKeys: Pick<ApiKeysService, "resolve">): Identity {
  const key = readApiKey(c);
  if (key === null) {
    throw new ApiError(
      401,
      "You didn't provide an API key. Send it as 'Authorization: Bearer sk-…' or 'X-API-Key: sk-…'.",
      { code: "invalid_api_key", headers: UNAUTHORIZED },
    );
  }
  const identity = apiKeys.resolve(key);
  if (identity === null) {
    throw new ApiError(
      401,
      `Incorrect API key provided: ${maskApiKey(key)}. Ask the server's operator for a key (ferry keys create).`,
      { code: "invalid_api_key", headers: UNAUTHORIZED },
    );
  }
  return identity;
}

const UNAUTHORIZED = { ...FINAL, "www-authenticate": 'Bearer realm="ferry"' } as const;

/** The key from `Authorization: Bearer <key>`, else from `X-API-Key`; null if neither. */
function readApiKey(c: Context): string | null {
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match?.[1] !== undefined) {
      return match[1];
    }
  }
  const header = c.req.header("x-api-key")?.trim();
  return header === undefined || header === "" ? null : header;
}
