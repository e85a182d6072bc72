import { ApiError } from "../lib/api-error.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import { newId } from "../lib/ids.js";
import type { FutureStore } from "../store/futures.js";
import type { FutureRow } from "../store/schema.js";
import type { WorkStore } from "../store/work-items.js";
import {
  checkQueuedRequest,
  type EndpointServices,
  type QueuedEndpoint,
} from "./endpoint-requests.js";
import { FUTURE_LANE, FUTURE_WORK_KIND, type FutureWorkPayload } from "./future-work-handler.js";
import type { QueueCap } from "./queue-cap.js";

/** How long a future and its answer are kept: OctoAI's 24 hours, counted from its creation. */
export const FUTURE_RETENTION_SECONDS = 24 * 60 * 60;

export type FutureStatus = "pending" | "running" | "completed" | "failed";

/** A future as the services see it; the HTTP edge renders it with its URLs. */
export interface FutureState {
  readonly id: string;
  readonly endpoint: string;
  readonly status: FutureStatus;
  readonly createdAt: number;
  readonly completedAt: number | null;
  readonly expiresAt: number;
  readonly error: Record<string, unknown> | null;
}

/** A finished future's answer: what the synchronous request would have answered. */
export interface FutureAnswer {
  readonly statusCode: number;
  readonly body: string;
}

/**
 * OctoAI-style futures: an inference request queued now and answered later. It is checked as
 * the synchronous call would check it (a bad request is refused at once, not a failed future),
 * then the future's row and its work item are written in one transaction, so a crash keeps both
 * or neither; the executor runs it and writes the answer in its results transaction.
 */
export function createFuturesService(deps: {
  store: FutureStore;
  work: WorkStore;
  endpoints: EndpointServices;
  queueCap: QueueCap;
  transaction: (fn: () => void) => void;
  executor: { wake(): void };
  clock: Clock;
}) {
  const { store, work, clock } = deps;

  /** The project's future, unless it is gone or was made past its retention (404 either way). */
  function findOrThrow(projectId: string, id: string): FutureRow {
    const row = store.find(projectId, id);
    if (row === undefined || row.expiresAt <= unixSeconds(clock)) {
      throw ApiError.notFound(
        `No future found with id '${id}'. Futures are kept for 24 hours after they are created.`,
      );
    }
    return row;
  }

  return {
    async submit(
      projectId: string,
      endpoint: QueuedEndpoint,
      request: Record<string, unknown>,
    ): Promise<FutureState> {
      const backend = await checkQueuedRequest(deps.endpoints, projectId, endpoint, request);
      deps.queueCap.assertRoom(projectId, 1);
      const nowMs = clock.nowMs();
      const createdAt = Math.floor(nowMs / 1000);
      const row: FutureRow = {
        id: newId("future"),
        projectId,
        endpoint,
        status: "pending",
        request,
        resultStatusCode: null,
        resultBody: null,
        error: null,
        createdAt,
        completedAt: null,
        expiresAt: createdAt + FUTURE_RETENTION_SECONDS,
      };
      const payload: FutureWorkPayload = { endpoint };
      deps.transaction(() => {
        store.insert(row);
        work.enqueue({
          kind: FUTURE_WORK_KIND,
          subjectId: row.id,
          projectId,
          lane: FUTURE_LANE,
          ownerKey: projectId,
          backend,
          payload: payload as unknown as Record<string, unknown>,
          nowMs,
        });
      });
      deps.executor.wake();
      return stateOf(row);
    },

    retrieve(projectId: string, id: string): FutureState {
      return stateOf(findOrThrow(projectId, id));
    },

    /**
     * The answer of a finished future; a 409 while it is still pending or running (the OctoAI
     * client asks only once the poll said "completed").
     */
    answer(projectId: string, id: string): FutureAnswer {
      const row = findOrThrow(projectId, id);
      if (row.resultStatusCode === null || row.resultBody === null) {
        throw new ApiError(
          409,
          `Future '${id}' is ${row.status}: its result is ready once polling it answers status "completed" (or "failed").`,
          { code: "future_not_ready" },
        );
      }
      return { statusCode: row.resultStatusCode, body: row.resultBody };
    },
  };
}

export type FuturesService = ReturnType<typeof createFuturesService>;

function stateOf(row: FutureRow): FutureState {
  return {
    id: row.id,
    endpoint: row.endpoint,
    status: row.status as FutureStatus,
    createdAt: row.createdAt,
    completedAt: row.completedAt,
    expiresAt: row.expiresAt,
    error: row.error,
  };
}
