import path from "node:path";
import type { SlotPriority } from "../backends/limiter.js";
import type { Router } from "../backends/router.js";
import type { Config } from "../config.js";
import { createExecutor, type Executor } from "../executor/executor.js";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { createApiKeyStore } from "../store/api-keys.js";
import { createBatchLineStore } from "../store/batch-lines.js";
import { createBatchStore } from "../store/batches.js";
import type { Db } from "../store/db.js";
import { createFileBlobStore, type FileBlobStore } from "../store/file-blobs.js";
import { createFileStore } from "../store/files.js";
import { createFutureStore } from "../store/futures.js";
import { createGroupCommit } from "../store/group-commit.js";
import { createProjectWorkCounts } from "../store/project-work-counts.js";
import { createRequestCallbackStore } from "../store/request-callbacks.js";
import { createResponseEventStore } from "../store/response-events.js";
import { createResponseListStore } from "../store/response-list.js";
import { createResponseStore } from "../store/responses.js";
import { createRetentionStore } from "../store/retention.js";
import { createStreamStore } from "../store/streams.js";
import { createWebhookDeliveryStore } from "../store/webhook-deliveries.js";
import { createWebhookEndpointStore } from "../store/webhook-endpoints.js";
import { createWorkStore } from "../store/work-items.js";
import { createCallbacks } from "../webhooks/callbacks.js";
import { createOutbox } from "../webhooks/create-outbox.js";
import { createDeliveryLane, type DeliveryLane } from "../webhooks/delivery-lane.js";
import { createDeliveryLog } from "../webhooks/delivery-log.js";
import { createWebhookEndpoints } from "../webhooks/endpoints.js";
import type { DeliveryDirectory, Outbox } from "../webhooks/outbox.js";
import { createSecretBox, loadSecretsKey, type SecretBox } from "../webhooks/secret-box.js";
import type { DeliverySender } from "../webhooks/send-delivery.js";
import { createThreadedSender } from "../webhooks/sender-thread.js";
import { createApiKeysService, isOpenModeAllowed } from "./api-keys.js";
import { createResponseWorkHandler, RESPONSE_WORK_KIND } from "./background-responses.js";
import {
  BATCH_LINE_LANE,
  BATCH_LINE_WORK_KIND,
  createBatchLineHandler,
} from "./batch-line-handler.js";
import { createBatchSupervisor } from "./batch-supervisor.js";
import { createBatchesService } from "./batches.js";
import { createChatCompletionsService } from "./chat-completions.js";
import { createCompletionsService } from "./completions.js";
import { createEmbeddingsService } from "./embeddings.js";
import { createFilesService } from "./files.js";
import { createFutureWorkHandler, FUTURE_WORK_KIND } from "./future-work-handler.js";
import { createFuturesService } from "./futures.js";
import { createHealthService } from "./health.js";
import { createKeyedNotifier } from "./keyed-notifier.js";
import { createModelsService } from "./models.js";
import { createQueueCap } from "./queue-cap.js";
import { createResponseEventHub } from "./response-event-hub.js";
import {
  BACKGROUND_RESPONSE_LANE,
  createResponsesService,
  DEFERRED_RESPONSE_LANE,
} from "./responses.js";
import { createRetentionSweeper } from "./retention.js";
import { createStreamItems } from "./stream-items.js";
import { createStreamNotifier } from "./stream-notifier.js";
import { createStreamsService } from "./streams.js";

/**
 * The lanes' weights in each backend's claims: background responses first, then stream and
 * deferred responses, then batch lines, yet a batch behind a flood of background responses still
 * gets a third of the claims (2 / (4 + 2)), and two ninths of them when all three lanes are busy.
 */
export const LANE_WEIGHTS: ReadonlyMap<number, number> = new Map([
  [BACKGROUND_RESPONSE_LANE, 4],
  [DEFERRED_RESPONSE_LANE, 3],
  [BATCH_LINE_LANE, 2],
]);

/**
 * Each lane's priority for backend slots: batch lines are kept out of the interactive reserve
 * and granted after everything else; background and stream responses are not.
 */
export const LANE_PRIORITIES: ReadonlyMap<number, SlotPriority> = new Map([
  [BACKGROUND_RESPONSE_LANE, "background"],
  [DEFERRED_RESPONSE_LANE, "background"],
  [BATCH_LINE_LANE, "batch"],
]);

export interface ServicesDeps {
  readonly config: Config;
  readonly db: Db;
  readonly router: Router;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The file bytes; by default on disk under `<dataDir>/files` (tests inject faults here). */
  readonly blobs?: FileBlobStore;
  /**
   * Where webhook events go (endpoints and per-request callbacks); by default the project's
   * webhook endpoints and the subjects' callbacks, from the database.
   */
  readonly directory?: DeliveryDirectory;
  /** Sends delivery attempts; by default over undici (webhooks/send-delivery.ts). */
  readonly sender?: DeliverySender;
  /**
   * Records the ends of background responses, batches and stream items instead of the delivery
   * lane's outbox (tests watch what is recorded with one).
   */
  readonly outbox?: Outbox;
}

/**
 * Wires stores, the executor and the services over one database. Nothing runs in the
 * background until `start()` (the server calls it); tests may instead drive the executor with
 * runOnce()/drain() and the batch supervisor with sweep().
 */
export function createServices(deps: ServicesDeps) {
  const { config, db, router, clock, logger } = deps;
  // IMMEDIATE: the write lock is taken at BEGIN, so a transaction that reads before it writes
  // waits for another connection's writer (a second ferry process on the same database)
  // instead of failing with SQLITE_BUSY_SNAPSHOT when that writer commits in between.
  const transaction = (fn: () => void) => db.$client.transaction(fn).immediate();
  const responseStore = createResponseStore(db);
  const events = createResponseEventStore(db);
  const work = createWorkStore(db);
  const hub = createResponseEventHub();
  const retry = config.retry;
  const commitSoon = createGroupCommit<() => void>(db.$client, (write) => write());
  const streamStore = createStreamStore(db);
  const notifier = createStreamNotifier();
  // Wake GET ?wait_ms= on a response or batch after the commit that ends it.
  const responseWaits = createKeyedNotifier();
  const batchWaits = createKeyedNotifier();
  // The secrets key is read (or made) on first use: only when an endpoint is made or a
  // callback carries credentials.
  let secretBox: SecretBox | null = null;
  const openSecretBox = () => {
    secretBox ??= createSecretBox(
      loadSecretsKey({ envKey: config.secretsKey ?? undefined, dataDir: config.dataDir }),
    );
    return secretBox;
  };
  const policy = { allowNetworks: config.outbound.allowNetworks };
  const callbacks = createCallbacks({
    store: createRequestCallbackStore(db),
    box: openSecretBox,
    policy,
  });
  // One sender for deliveries and endpoint tests, its attempts on a thread of its own
  // (webhooks/sender-thread.ts).
  const sender = deps.sender ?? createThreadedSender({ logger });
  const webhookEndpoints = createWebhookEndpoints({
    store: createWebhookEndpointStore(db),
    box: openSecretBox,
    clock,
    logger,
    policy,
    sender,
    config: config.webhooks,
  });
  const directory: DeliveryDirectory = deps.directory ?? {
    ...webhookEndpoints.directory,
    hasCallback: (subjectId) => callbacks.hasCallback(subjectId),
    callbackOf: (subjectId) => callbacks.callbackOf(subjectId),
  };
  const webhooks = createWebhookDelivery(deps, directory, sender, (write) => commitSoon.add(write));
  const outbox = deps.outbox ?? webhooks.outbox;
  const streamItems = createStreamItems({ streams: streamStore, notifier, clock, outbox });

  // The executor runs handlers built from the services, and the services wake the executor:
  // services see it through this late-bound view.
  let executor: Executor | null = null;
  const executorView = {
    wake: () => executor?.wake(),
    abort: (workItemId: number) => executor?.abort(workItemId),
  };

  const queueCap = createQueueCap({
    counts: createProjectWorkCounts(db),
    scope: {
      backends: router.routes().map((route) => route.backend.name),
      lanes: [...LANE_WEIGHTS.keys()],
    },
    maxQueuedPerProject: config.queue.maxQueuedPerProject,
    clock,
  });
  const blobs = deps.blobs ?? createFileBlobStore(path.join(config.dataDir, "files"));
  const files = createFilesService({
    store: createFileStore(db),
    blobs,
    clock,
    limits: { maxBatchFileBytes: config.batches.maxInputBytes },
  });
  const responses = createResponsesService({
    store: responseStore,
    events,
    work,
    hub,
    router,
    clock,
    transaction,
    executor: executorView,
    retry,
    list: createResponseListStore(db),
    streamItems,
    requireOpenStream: (projectId, streamId) => streams.requireOpen(projectId, streamId),
    countStreamItem: (streamId) => streamStore.countItem(streamId),
    commitSoon: (write) => commitSoon.add(write),
    queueCap,
    files,
    responseWaits,
    outbox,
    callbacks,
  });
  const streams = createStreamsService({
    streams: streamStore,
    notifier,
    clock,
    findResponse: (responseId) =>
      responses.findForEvent(responseId) as Record<string, unknown> | null,
    cancelItems: (streamId) => responses.cancelStreamItems(streamId),
  });
  const chat = createChatCompletionsService({ router, clock, retry, files });
  const completions = createCompletionsService({ router, clock, retry });
  const embeddings = createEmbeddingsService({ router, retry });
  const endpoints = { responses, chat, completions, embeddings };
  const futureStore = createFutureStore(db);
  const futures = createFuturesService({
    store: futureStore,
    work,
    endpoints,
    queueCap,
    transaction,
    executor: executorView,
    clock,
  });
  const batchStore = createBatchStore(db);
  const batchLines = createBatchLineStore(db);
  const supervisor = createBatchSupervisor({
    batches: batchStore,
    lines: batchLines,
    files,
    router,
    executor: executorView,
    transaction,
    clock,
    logger,
    pollMs: config.executor.pollMs,
    batchWaits,
    inputLimits: config.batches,
    prefixScheduling: config.batches.prefixScheduling,
    retryBaseMs: config.batchFinalize.retryBaseMs,
    retryMaxMs: config.batchFinalize.retryMaxMs,
    outbox,
    beforeFinalizeCommit: config.batchFinalize.testHoldBeforeCommit
      ? (batchId) => {
          logger.warn(
            { batchId },
            "test fault injection: holding batch finalize before its commit",
          );
          return new Promise<void>(() => {});
        }
      : undefined,
  });

  executor = createExecutor({
    work,
    transaction,
    backends: router
      .routes()
      .map((route) => ({ name: route.backend.name, limiter: route.limiter })),
    handlers: {
      [RESPONSE_WORK_KIND]: createResponseWorkHandler({
        responses: responseStore,
        events,
        hub,
        router,
        clock,
        streamItems,
        responseWaits,
        outbox,
      }),
      [BATCH_LINE_WORK_KIND]: createBatchLineHandler({
        batches: batchStore,
        ...endpoints,
        onLineCommitted: (batchId) => supervisor.nudge(batchId),
      }),
      [FUTURE_WORK_KIND]: createFutureWorkHandler({ store: futureStore, endpoints, clock }),
    },
    laneWeights: LANE_WEIGHTS,
    lanePriorities: LANE_PRIORITIES,
    clock,
    logger,
    options: { ...config.executor, retry },
  });
  const runningExecutor = executor;
  let expiryTimer: NodeJS.Timeout | null = null;
  const retention = createRetentionSweeper({
    store: createRetentionStore(db),
    blobs,
    clock,
    logger,
    policy: config.retention,
  });

  return {
    executor: runningExecutor,
    supervisor,
    /** Deletes expired data; runs on a timer after start(), and tests call sweep() directly. */
    retention,
    /** Deletes uploads a crash cut short; call before the server accepts requests. */
    removeStaleUploads: () => blobs.removeStaleTemp(),
    /** Starts background work: the executor, and the batch supervisor (which resumes unfinished batches). */
    start() {
      runningExecutor.start();
      supervisor.start();
      // Deferred responses past their window end expired; checked as often as the queue polls.
      expiryTimer = setInterval(() => {
        try {
          responses.expireOverdue();
        } catch (thrown) {
          logger.error({ err: thrown }, "expiring deferred responses failed");
        }
      }, config.executor.pollMs);
      expiryTimer.unref();
      retention.start();
      webhooks.lane.start();
    },
    /** Stops background work and ends live event streams, for shutdown. */
    async stop() {
      if (expiryTimer !== null) {
        clearInterval(expiryTimer);
      }
      await retention.stop();
      // In-flight attempts are aborted and handed back; their outcomes are written first.
      await webhooks.lane.stop();
      await sender.close();
      await supervisor.stop();
      await runningExecutor.stop();
      hub.closeAll();
    },
    /** The webhook outbox, for the state changes that emit events. */
    outbox,
    /** Sends what the outbox wrote. */
    deliveryLane: webhooks.lane,
    /** Deliveries and their attempts, for the admin route and the CLI. */
    webhookDeliveries: createDeliveryLog(createWebhookDeliveryStore(db)),
    responses,
    streams,
    notifier,
    /** `/v1/webhook_endpoints`, `ferry webhooks`, and the config file's endpoints. */
    webhookEndpoints,
    /** Per-request callbacks: hasCallback / callbackOf for the delivery directory. */
    callbacks,
    chat,
    completions,
    embeddings,
    futures,
    files,
    batches: createBatchesService({
      batches: batchStore,
      lines: batchLines,
      files,
      supervisor,
      queueCap,
      clock,
      windowSecondsOverride: config.batches.windowSecondsOverride,
      inputLimits: config.batches,
      batchWaits,
      transaction,
      callbacks,
    }),
    models: createModelsService(router),
    apiKeys: createApiKeysService({
      store: createApiKeyStore(db),
      clock,
      configuredKeys: config.apiKeys,
      openModeAllowed: isOpenModeAllowed(config),
    }),
    /** The services' clock, for HTTP-level timing such as rate limits. */
    clock,
    health: createHealthService({ router, work }),
  };
}

export type Services = ReturnType<typeof createServices>;

/** The outbox, and the delivery lane that sends what it wrote. */
function createWebhookDelivery(
  deps: ServicesDeps,
  directory: DeliveryDirectory,
  sender: DeliverySender,
  commitSoon: (write: () => void) => Promise<void>,
): { outbox: Outbox; lane: DeliveryLane } {
  const { config, db, clock, logger } = deps;
  const store = createWebhookDeliveryStore(db);
  const lane = createDeliveryLane({
    store,
    directory,
    sender,
    clock,
    logger,
    config: config.webhooks,
    policy: { allowNetworks: config.outbound.allowNetworks },
    commitSoon,
  });
  const outbox = createOutbox({
    store,
    directory,
    clock,
    retryForMs: config.webhooks.retryForMs,
    onNotify: () => lane.wake(),
  });
  return { outbox, lane };
}
