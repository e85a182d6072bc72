import { type BackendConfig, type Config, DEFAULT_INTERACTIVE_RESERVE } from "../config.js";
import type { Clock } from "../lib/clock.js";
import { systemClock } from "../lib/clock.js";
import type { Backend } from "./backend.js";
import { limitBackend } from "./limited-backend.js";
import { createLimiter } from "./limiter.js";
import { createMockBackend } from "./mock/mock-backend.js";
import { createOpenAICompatibleBackend } from "./openai-compatible.js";
import { createOpenAIResponsesBackend } from "./openai-responses.js";
import { trackReachability } from "./reachability.js";
import { type BackendRoute, createRouter, MOCK_ADVERTISED_MODELS, type Router } from "./router.js";

/** The mock that serves every model when no backends are configured. */
const DEFAULT_MOCK: BackendConfig = {
  type: "mock",
  name: "mock",
  models: ["*"],
  aliases: {},
  maxConcurrency: 256,
  ttftMs: null,
  tokensPerSecond: null,
};

/**
 * The configured backends, each behind its concurrency limiter (adaptive by default for an
 * upstream, fixed for the mock), in a router.
 */
export function createBackendRouter(config: Config, clock: Clock = systemClock): Router {
  const routes = (config.backends ?? [DEFAULT_MOCK]).map((backend): BackendRoute => {
    const limiter = createLimiter({
      max: backend.maxConcurrency,
      adaptive: backend.adaptiveConcurrency ?? backend.type !== "mock",
      interactiveReserve: backend.interactiveReserve ?? DEFAULT_INTERACTIVE_RESERVE,
      clock,
    });
    const created = createBackend(backend, config);
    const tracked = trackReachability(created);
    return {
      backend: limitBackend(tracked.backend, limiter, clock),
      limiter,
      reachability: tracked.reachability,
      type: backend.type,
      models: backend.models,
      aliases: backend.aliases,
      contextTokens: backend.contextTokens,
      close: async () => {
        await created.close?.();
      },
      ...(backend.type === "mock" ? { advertisedModels: MOCK_ADVERTISED_MODELS } : {}),
    };
  });
  return createRouter(routes);
}

function createBackend(backend: BackendConfig, config: Config): Backend {
  if (backend.type === "mock") {
    return createMockBackend({
      name: backend.name,
      ttftMs: backend.ttftMs ?? config.mock.ttftMs,
      tokensPerSecond: backend.tokensPerSecond ?? config.mock.tokensPerSecond,
    });
  }
  const upstream = {
    name: backend.name,
    baseUrl: backend.baseUrl,
    apiKey: backend.apiKey,
    timeoutMs: backend.timeoutMs,
    headers: backend.headers,
    maxResponseBytes: backend.maxResponseBytes,
    deadlineMs: backend.deadlineMs,
    // No more calls than this are in flight, so no more connections are ever needed.
    maxConnections: backend.maxConcurrency,
  };
  return backend.type === "openai-responses"
    ? createOpenAIResponsesBackend(upstream)
    : createOpenAICompatibleBackend(upstream);
}
