import { Hono } from "hono";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseApiKeysVariable } from "../../src/config.js";
import { API_KEY_SCOPES, type ApiKeyScope } from "../../src/contract/api-keys.js";
import type { AppEnv } from "../../src/http/app-env.js";
import { authenticate } from "../../src/http/auth.js";
import { createErrorHandler } from "../../src/http/errors.js";
import { accessRuleFor, listedRoutes } from "../../src/http/scopes.js";
import { ApiError } from "../../src/lib/api-error.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";
import { bearer, type ErrorBody, expectJson, keyedContext, send } from "./auth-helpers.js";

/**
 * What each /v1 route needs, written out here independently of src/http/scopes.ts, so that a
 * change to either shows up as a failure.
 */
const EXPECTED: Record<string, ApiKeyScope | "any-key" | "public"> = {
  "POST /v1/responses": "responses:write",
  "GET /v1/responses": "responses:read",
  "GET /v1/responses/:id": "responses:read",
  "DELETE /v1/responses/:id": "responses:write",
  "POST /v1/responses/:id/cancel": "responses:write",
  "GET /v1/responses/:id/input_items": "responses:read",
  "POST /v1/chat/completions": "responses:write",
  "POST /v1/completions": "responses:write",
  "POST /v1/embeddings": "responses:write",
  "GET /v1/futures/:id": "responses:read",
  "GET /v1/futures/:id/result": "responses:read",
  "POST /v1/files": "files:write",
  "GET /v1/files": "files:read",
  "GET /v1/files/:id": "files:read",
  "DELETE /v1/files/:id": "files:write",
  "GET /v1/files/:id/content": "files:read",
  "POST /v1/batches": "batches:write",
  "GET /v1/batches": "batches:read",
  "GET /v1/batches/:id": "batches:read",
  "POST /v1/batches/:id/cancel": "batches:write",
  "GET /v1/batches/:id/results": "batches:read",
  "GET /v1/batches/:id/results.jsonl": "batches:read",
  "POST /v1/streams": "streams:write",
  "GET /v1/streams": "streams:read",
  "GET /v1/streams/:id": "streams:read",
  "PATCH /v1/streams/:id": "streams:write",
  "GET /v1/streams/:id/events": "streams:read",
  "POST /v1/webhook_endpoints": "webhooks:write",
  "GET /v1/webhook_endpoints": "webhooks:read",
  "GET /v1/webhook_endpoints/:id": "webhooks:read",
  "POST /v1/webhook_endpoints/:id": "webhooks:write",
  "DELETE /v1/webhook_endpoints/:id": "webhooks:write",
  "POST /v1/webhook_endpoints/:id/rotate_secret": "webhooks:write",
  "POST /v1/webhook_endpoints/:id/test": "webhooks:write",
  "GET /v1/webhook_event_types": "webhooks:read",
  "GET /v1/webhook_deliveries": "webhooks:read",
  "GET /v1/webhook_deliveries/:id": "webhooks:read",
  "GET /v1/models": "any-key",
  "GET /v1/models/:id{.+}": "any-key",
  "GET /v1/auth/me": "any-key",
  "POST /v1/auth/login": "public",
};

const RESOURCE_SCOPES = API_KEY_SCOPES.filter((scope) => scope !== "admin");

/** The routes the app registers under /v1, as `METHOD /path` (middleware left out). */
function registeredRoutes(t: TestContext): string[] {
  return t.app.routes
    .filter((route) => route.path.startsWith("/v1/") && route.method !== "ALL")
    .map((route) => `${route.method} ${route.path}`);
}

/** A concrete URL for a route pattern; ids that do not exist are fine, auth comes first. */
function samplePath(pattern: string): string {
  return pattern.replace(":id{.+}", "gpt-4o-mini").replace(":id", "x_missing");
}

describe("the route table", () => {
  let t: TestContext;
  beforeEach(() => {
    t = createTestContext();
  });
  afterEach(() => t.close());

  it("gives every registered /v1 route a rule, the one this test expects", () => {
    const routes = registeredRoutes(t);
    for (const route of routes) {
      const [method = "", path = ""] = route.split(" ");
      expect(accessRuleFor(method, path), `${route} in src/http/scopes.ts`).toBeDefined();
      expect(EXPECTED[route], `${route} in this test's EXPECTED table`).toBe(
        accessRuleFor(method, path),
      );
    }
    // And the table lists nothing that is not a route (a typo would otherwise go unnoticed).
    // (A route with its own middleware is registered twice; count it once.)
    expect([...listedRoutes()].sort()).toEqual([...new Set(routes)].sort());
  });
});

describe("every /v1 route × key", () => {
  let t: TestContext;
  const only = new Map<ApiKeyScope, string>();
  const allBut = new Map<ApiKeyScope, string>();
  let admin = "";
  let revoked = "";
  beforeAll(() => {
    const world = keyedContext();
    t = world.t;
    for (const scope of RESOURCE_SCOPES) {
      only.set(scope, world.createKey("alpha", [scope]).key);
      allBut.set(
        scope,
        world.createKey(
          "alpha",
          RESOURCE_SCOPES.filter((s) => s !== scope),
        ).key,
      );
    }
    admin = world.createKey("alpha", ["admin"]).key;
    const toRevoke = world.createKey("alpha", ["admin"]);
    t.services.apiKeys.revoke(toRevoke.info.id);
    revoked = toRevoke.key;
  });
  afterAll(() => t.close());

  const cases = Object.entries(EXPECTED);

  it.each(cases)("%s (%s)", async (route, rule) => {
    const [method = "", pattern = ""] = route.split(" ");
    const path = samplePath(pattern);
    const body = method === "POST" || method === "PATCH" ? {} : undefined;
    const call = (key: string | null, headers: Record<string, string> = {}) =>
      send(t, method, path, key, body, headers);

    if (rule === "public") {
      const res = await expectJson<ErrorBody>(call(null), 404);
      expect(res.error.message).toMatch(/no user accounts/);
      return;
    }

    for (const [label, key] of [
      ["no key", null],
      ["a wrong key", "sk-ferry-thisKeyWasNeverIssuedToAnyoneAtAll0000"],
      ["a revoked key", revoked],
    ] as const) {
      const res = await call(key);
      const err = await expectJson<ErrorBody>(res, 401);
      expect(err.error, label).toMatchObject({
        type: "invalid_request_error",
        code: "invalid_api_key",
        param: null,
      });
      expect(res.headers.get("x-should-retry")).toBe("false");
    }

    // Allowed keys reach the handler: whatever it answers, it is not 401 or 403.
    const allowed: string[] = [admin];
    if (rule === "any-key") {
      allowed.push(only.get("files:read") ?? "");
    } else {
      allowed.push(only.get(rule) ?? "");
      const denied = await call(allBut.get(rule) ?? "");
      const err = await expectJson<ErrorBody>(denied, 403);
      expect(err.error).toMatchObject({
        type: "invalid_request_error",
        code: "insufficient_scope",
        param: null,
      });
      expect(err.error.message).toContain(`'${rule}'`);
      expect(denied.headers.get("x-should-retry")).toBe("false");
    }
    for (const key of allowed) {
      const res = await call(key);
      expect([401, 403], `${route}: ${await res.clone().text()}`).not.toContain(res.status);
    }
    // X-API-Key works as well as Bearer.
    const viaHeader = await call(null, { "x-api-key": admin });
    expect([401, 403], await viaHeader.clone().text()).not.toContain(viaHeader.status);
  });
});

describe("authentication", () => {
  let world: ReturnType<typeof keyedContext>;
  beforeEach(() => {
    world = keyedContext({
      config: {
        apiKeys: parseApiKeysVariable(
          "sk-env-alpha-1@alpha,sk-env-alpha-reader@alpha=responses:read",
        ),
      },
    });
  });
  afterEach(() => world.t.close());

  it("answers 401 invalid_api_key with the key masked, as OpenAI does", async () => {
    const key = "sk-ferry-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789wxyz";
    const res = await send(world.t, "GET", "/v1/models", key);
    expect(await expectJson<ErrorBody>(res, 401)).toEqual({
      error: {
        message: expect.stringMatching(/^Incorrect API key provided: sk-ferr\*+wxyz\. /),
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key",
      },
    });
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
  });

  it("says a key is missing when there is none, or the header is not Bearer", async () => {
    const variants: Record<string, string>[] = [
      {},
      { authorization: "Basic dXNlcjpwYXNz" },
      { "x-api-key": "  " },
    ];
    for (const headers of variants) {
      const err = await expectJson<ErrorBody>(
        send(world.t, "GET", "/v1/models", null, undefined, headers),
        401,
      );
      expect(err.error.code).toBe("invalid_api_key");
      expect(err.error.message).toMatch(/didn't provide an API key/);
    }
  });

  it("accepts FERRY_API_KEYS keys with their scopes, and DB keys beside them", async () => {
    const stored = world.createKey("beta", ["batches:read"], "ci");
    const env = await expectJson(send(world.t, "GET", "/v1/auth/me", "sk-env-alpha-reader"), 200);
    expect(env).toEqual({
      object: "auth.identity",
      project_id: "alpha",
      key_id: null,
      name: null,
      key_prefix: expect.stringMatching(/^sk-/),
      scopes: ["responses:read"],
    });
    const me = await expectJson(send(world.t, "GET", "/v1/auth/me", stored.key), 200);
    expect(me).toEqual({
      object: "auth.identity",
      project_id: "beta",
      key_id: stored.info.id,
      name: "ci",
      key_prefix: stored.info.keyPrefix,
      scopes: ["batches:read"],
    });
    const denied = await expectJson<ErrorBody>(
      send(world.t, "POST", "/v1/responses", "sk-env-alpha-reader", { model: "m", input: "hi" }),
      403,
    );
    expect(denied.error.message).toContain("'responses:write'");
    await expectJson(
      send(world.t, "POST", "/v1/responses", "sk-env-alpha-1", {
        model: "gpt-4o-mini",
        input: "hi",
      }),
      200,
    );
  });

  it("leaves /health public and answers unknown URLs 404 once the key is good", async () => {
    await expectJson(world.t.app.request("/health"), 200);
    await expectJson(send(world.t, "GET", "/v1/nope", null), 401);
    await expectJson(send(world.t, "GET", "/v1/nope", "sk-env-alpha-1"), 404);
  });

  it("answers POST /v1/auth/login with a 404 that explains, key or no key", async () => {
    for (const key of [null, "sk-env-alpha-1", "sk-wrong"]) {
      const err = await expectJson<ErrorBody>(
        send(world.t, "POST", "/v1/auth/login", key, { username: "u", password: "p" }),
        404,
      );
      expect(err.error.message).toMatch(/ferry has no user accounts/);
    }
  });

  it("refuses a route that has no entry in the table, even to an admin key", async () => {
    const adminKey = world.createKey("alpha", ["admin"]).key;
    const app = new Hono<AppEnv>();
    app.onError(createErrorHandler(createSilentLogger()));
    app.use("/v1/*", authenticate({ apiKeys: world.t.services.apiKeys }));
    app.get("/v1/unlisted", (c) => c.json({ ok: true }));
    app.all("/v1/anything", (c) => c.json({ ok: true }));
    for (const path of ["/v1/unlisted", "/v1/anything"]) {
      const res = await app.request(path, { headers: bearer(adminKey) });
      const err = await expectJson<ErrorBody>(res, 403);
      expect(err.error.code).toBe("insufficient_scope");
    }
    // Without keys (a route module tested on its own) the same route is still refused.
    const open = new Hono<AppEnv>();
    open.onError(createErrorHandler(createSilentLogger()));
    open.use(authenticate());
    open.get("/v1/unlisted", () => {
      throw new ApiError(500, "unreachable");
    });
    await expectJson(open.request("/v1/unlisted"), 403);
  });
});

describe("open mode", () => {
  let t: TestContext;
  beforeEach(() => {
    t = createTestContext();
  });
  afterEach(() => t.close());

  it("acts for project 'default' with every scope, whatever key is sent", async () => {
    for (const key of [null, "sk-anything"]) {
      expect(await expectJson(send(t, "GET", "/v1/auth/me", key), 200)).toEqual({
        object: "auth.identity",
        project_id: "default",
        key_id: null,
        name: null,
        key_prefix: null,
        scopes: ["admin"],
      });
    }
  });

  it("ends as soon as a key exists, and does not come back when every key is revoked", async () => {
    await expectJson(send(t, "GET", "/v1/models", null), 200);
    const created = t.services.apiKeys.create({ projectId: "alpha" });
    await expectJson(send(t, "GET", "/v1/models", null), 401);
    await expectJson(send(t, "GET", "/v1/models", created.key), 200);
    t.services.apiKeys.revoke(created.info.id);
    await expectJson(send(t, "GET", "/v1/models", created.key), 401);
    await expectJson(send(t, "GET", "/v1/models", null), 401);
  });

  it("is refused by the app itself on a HOST other than loopback, however it was started", async () => {
    const exposed = createTestContext({ config: { host: "0.0.0.0" } });
    try {
      await expectJson(send(exposed, "GET", "/v1/models", null), 401);
      await expectJson(send(exposed, "GET", "/v1/models", "sk-anything"), 401);
    } finally {
      await exposed.close();
    }
    const allowed = createTestContext({ config: { host: "0.0.0.0", allowOpen: true } });
    try {
      await expectJson(send(allowed, "GET", "/v1/models", null), 200);
    } finally {
      await allowed.close();
    }
  });
});
