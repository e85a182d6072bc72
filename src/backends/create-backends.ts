import type { Config } from "../config.js";
import { createMockBackend } from "./mock/mock-backend.js";
import { createRouter, MOCK_ADVERTISED_MODELS, type Router } from "./router.js";

/** The backends the config asks for, behind a router. Today: the mock, serving every model. */
export function createBackendRouter(config: Config): Router {
  const mock = createMockBackend({
    ttftMs: config.mock.ttftMs,
    tokensPerSecond: config.mock.tokensPerSecond,
  });
  return createRouter([{ backend: mock, models: ["*"], advertisedModels: MOCK_ADVERTISED_MODELS }]);
}
