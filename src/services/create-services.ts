import type { Router } from "../backends/router.js";
import type { Config } from "../config.js";
import { createExecutor, type Executor } from "../executor/executor.js";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import type { Db } from "../store/db.js";
import { createResponseEventStore } from "../store/response-events.js";
import { createResponseStore } from "../store/responses.js";
import { createWorkStore } from "../store/work-items.js";
import { createResponseWorkHandler, RESPONSE_WORK_KIND } from "./background-responses.js";
import { createChatCompletionsService } from "./chat-completions.js";
import { createEmbeddingsService } from "./embeddings.js";
import { createHealthService } from "./health.js";
import { createModelsService } from "./models.js";
import { createResponseEventHub } from "./response-event-hub.js";
import { createResponsesService } from "./responses.js";

export interface ServicesDeps {
  readonly config: Config;
  readonly db: Db;
  readonly router: Router;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Wires stores, the executor and the services over one database. The executor is created here
 * but not started: the server starts it, tests drive it with runOnce()/drain().
 */
export function createServices(deps: ServicesDeps) {
  const { config, db, router, clock, logger } = deps;
  const transaction = (fn: () => void) => db.$client.transaction(fn)();
  const store = createResponseStore(db);
  const events = createResponseEventStore(db);
  const work = createWorkStore(db);
  const hub = createResponseEventHub();
  const retry = config.retry;
  const executor: Executor = createExecutor({
    work,
    transaction,
    backends: router
      .routes()
      .map((route) => ({ name: route.backend.name, limiter: route.limiter })),
    handlers: {
      [RESPONSE_WORK_KIND]: createResponseWorkHandler({
        responses: store,
        events,
        hub,
        router,
        clock,
      }),
    },
    clock,
    logger,
    options: { ...config.executor, retry },
  });
  return {
    executor,
    /** Stops background work and ends live event streams, for shutdown. */
    async stop() {
      await executor.stop();
      hub.closeAll();
    },
    responses: createResponsesService({
      store,
      events,
      work,
      hub,
      router,
      clock,
      transaction,
      executor,
      retry,
    }),
    chat: createChatCompletionsService({ router, clock, retry }),
    embeddings: createEmbeddingsService({ router, retry }),
    models: createModelsService(router),
    health: createHealthService({ router, work }),
  };
}

export type Services = ReturnType<typeof createServices>;
