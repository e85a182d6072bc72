import type { WorkHandler, WorkOutcome } from "../executor/executor.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import type { FutureOutcome, FutureStore } from "../store/futures.js";
import type { ClaimedWork } from "../store/work-items.js";
import type { CallOptions } from "./call-options.js";
import { type EmbeddingsService, serializeEmbeddingList } from "./embeddings.js";
import {
  answerQueuedRequest,
  type EndpointServices,
  errorAnswerOf,
  type QueuedEndpoint,
  SINGLE_ATTEMPT,
} from "./endpoint-requests.js";
import { BACKGROUND_RESPONSE_LANE } from "./responses.js";

export const FUTURE_WORK_KIND = "future";
/**
 * Futures share the background responses' lane: someone is polling for each, as for a
 * background response, and the queue cap counts them alike.
 */
export const FUTURE_LANE = BACKGROUND_RESPONSE_LANE;

/** What a future's queue row carries; the request itself is on the future's row. */
export interface FutureWorkPayload {
  readonly endpoint: QueuedEndpoint;
}

/**
 * Runs futures: the request goes through its endpoint's service as a live call would, and the
 * answer (status 200 and the JSON body, or the error status and OpenAI's error body) is written
 * on the future's row in the executor's results transaction, once.
 */
export function createFutureWorkHandler(deps: {
  store: FutureStore;
  endpoints: EndpointServices;
  clock: Clock;
}): WorkHandler {
  const { store, endpoints, clock } = deps;

  /** The answer's JSON text; an embeddings list is encoded a slice at a time (see embeddings.ts). */
  async function answerText(
    item: ClaimedWork,
    endpoint: QueuedEndpoint,
    signal: AbortSignal,
    call: CallOptions,
  ): Promise<string> {
    const row = store.find(item.projectId, item.subjectId);
    if (row === undefined) {
      throw new Error(`future ${item.subjectId} no longer exists`);
    }
    if (endpoint === "/v1/embeddings") {
      const answered = await endpoints.embeddings.answer(
        row.request as Parameters<EmbeddingsService["answer"]>[0],
        signal,
        call,
      );
      const parts: string[] = [];
      for await (const part of serializeEmbeddingList(answered)) {
        parts.push(part);
      }
      return parts.join("");
    }
    const body = await answerQueuedRequest(
      endpoints,
      item.projectId,
      endpoint,
      row.request,
      signal,
      call,
    );
    return JSON.stringify(body);
  }

  function finishing(item: ClaimedWork, outcome: FutureOutcome): WorkOutcome {
    return { commit: () => void store.finish(item.subjectId, outcome) };
  }

  return {
    onClaimed(items) {
      store.markRunning(items.map((item) => item.subjectId));
    },

    async run(item, signal, slot) {
      const { endpoint } = item.payload as unknown as FutureWorkPayload;
      // The slot the executor took at claim: the backend call runs in it.
      const resultBody = await answerText(item, endpoint, signal, { retry: SINGLE_ATTEMPT, slot });
      return finishing(item, {
        status: "completed",
        resultStatusCode: 200,
        resultBody,
        error: null,
        completedAt: unixSeconds(clock),
      });
    },

    onFailure(item, err) {
      // Without an HTTP answer of its own (not an API or backend error), the synchronous call
      // would have been the error handler's 500; the message says what went wrong.
      const answer = errorAnswerOf(err) ?? {
        status: 500,
        error: { message: err.message, type: "server_error", param: null, code: "server_error" },
      };
      return finishing(item, {
        status: "failed",
        resultStatusCode: answer.status,
        resultBody: JSON.stringify({ error: answer.error }),
        error: answer.error,
        completedAt: unixSeconds(clock),
      });
    },
  };
}
