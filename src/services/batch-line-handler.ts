import type { BatchEndpoint } from "../contract/batches-request.js";
import type { WorkHandler, WorkOutcome } from "../executor/executor.js";
import { newId } from "../lib/ids.js";
import type { BatchStore, LineCounts, LineUsage } from "../store/batches.js";
import type { ClaimedWork } from "../store/work-items.js";
import type { CallOptions } from "./call-options.js";
import type { ChatCompletionsService } from "./chat-completions.js";
import type { CompletionsService } from "./completions.js";
import { type EmbeddingsService, serializeEmbeddingList } from "./embeddings.js";
import { answerQueuedRequest, errorAnswerOf, SINGLE_ATTEMPT } from "./endpoint-requests.js";
import type { ResponsesService } from "./responses.js";

export const BATCH_LINE_WORK_KIND = "batch_line";
/** Lane 2: batch lines run after background (0) and stream (1) responses. */
export const BATCH_LINE_LANE = 2;

/** What a batch line's queue row carries. */
export interface BatchLinePayload {
  readonly customId: string;
  readonly endpoint: BatchEndpoint;
  /** The body as its endpoint's schema parsed it when the batch was validated. */
  readonly body: Record<string, unknown>;
}

/**
 * Runs batch lines: the line's body goes through the same service as a live request to its
 * endpoint, and the answer becomes the output line, in OpenAI's format:
 * `{id, custom_id, response: {status_code, request_id, body}, error}`. The line (the work
 * item's result) and the batch's counters are written in the executor's results transaction,
 * once.
 */
export function createBatchLineHandler(deps: {
  batches: BatchStore;
  responses: ResponsesService;
  chat: ChatCompletionsService;
  completions: CompletionsService;
  embeddings: EmbeddingsService;
  /** Told after a line's result is committed, to finish the batch when it was the last. */
  onLineCommitted(batchId: string): void;
}): WorkHandler {
  /**
   * An embeddings line's answer can be 135 MB of JSON (2,048 vectors of 3,072 floats). Its text
   * is made here, a slice at a time with yields between (serializeEmbeddingList), straight from
   * the vectors: never as arrays of JS numbers, and never by JSON.stringify inside the results
   * transaction, where it would hold the event loop for seconds per line.
   */
  async function embeddingsLine(
    payload: BatchLinePayload,
    signal: AbortSignal,
    call: CallOptions,
  ): Promise<{ text: string; usage: LineUsage | null }> {
    const answered = await deps.embeddings.answer(
      payload.body as Parameters<EmbeddingsService["answer"]>[0],
      signal,
      call,
    );
    const parts = [
      `{"id":${JSON.stringify(newId("batchRequest"))},"custom_id":${JSON.stringify(payload.customId)},` +
        `"response":{"status_code":200,"request_id":${JSON.stringify(newId("request"))},"body":`,
    ];
    for await (const part of serializeEmbeddingList(answered)) {
      parts.push(part);
    }
    parts.push('},"error":null}');
    const tokens = answered.promptTokens;
    return { text: parts.join(""), usage: usageOf({ usage: { prompt_tokens: tokens } }) };
  }

  function outcome(
    item: ClaimedWork,
    line: Record<string, unknown> | string,
    isSuccess: boolean,
    usage: LineUsage | null,
  ): WorkOutcome {
    const batchId = item.subjectId;
    return {
      ...(typeof line === "string" ? { resultText: line } : { result: line }),
      commit: (transaction) => {
        // Summed per batch and written once at the end of the results transaction: the
        // counters move in the same transaction as the results, so they always agree.
        const counts = transaction.accumulate(`batch-counts:${batchId}`, zeroCounts, (sum) =>
          deps.batches.countLines(batchId, sum),
        );
        if (isSuccess) {
          counts.completed++;
        } else {
          counts.failed++;
        }
        if (usage !== null) {
          counts.inputTokens += usage.inputTokens;
          counts.cachedTokens += usage.cachedTokens;
          counts.outputTokens += usage.outputTokens;
          counts.reasoningTokens += usage.reasoningTokens;
        }
      },
      afterCommit: () => deps.onLineCommitted(batchId),
    };
  }

  return {
    async run(item, signal, slot) {
      const payload = item.payload as unknown as BatchLinePayload;
      // The slot the executor took at claim: the line's backend call runs in it.
      const call: CallOptions = { retry: SINGLE_ATTEMPT, slot };
      if (payload.endpoint === "/v1/embeddings") {
        const { text, usage } = await embeddingsLine(payload, signal, call);
        return outcome(item, text, true, usage);
      }
      const body = (await answerQueuedRequest(
        deps,
        item.projectId,
        payload.endpoint,
        payload.body,
        signal,
        call,
      )) as Record<string, unknown>;
      const line = {
        id: newId("batchRequest"),
        custom_id: payload.customId,
        response: { status_code: 200, request_id: newId("request"), body },
        error: null,
      };
      return outcome(item, line, true, usageOf(body));
    },
    onFailure(item, err) {
      const payload = item.payload as unknown as BatchLinePayload;
      return outcome(item, errorLine(payload.customId, err), false, null);
    },
  };
}

/**
 * The error-file line for a request that failed: with the HTTP answer it got (`response` holds
 * the status and OpenAI's error body), or, when there was no HTTP answer at all, `response: null`
 * and `error: {code, message}`.
 */
export function errorLine(customId: string, err: Error): Record<string, unknown> {
  const base = { id: newId("batchRequest"), custom_id: customId };
  const answer = errorAnswerOf(err);
  if (answer === null) {
    return { ...base, response: null, error: { code: "server_error", message: err.message } };
  }
  return {
    ...base,
    response: {
      status_code: answer.status,
      request_id: newId("request"),
      body: { error: answer.error },
    },
    error: null,
  };
}

function zeroCounts(): LineCounts {
  return {
    completed: 0,
    failed: 0,
    inputTokens: 0,
    cachedTokens: 0,
    outputTokens: 0,
    reasoningTokens: 0,
  };
}

/** Token usage from any of the endpoints' answers. */
function usageOf(body: Record<string, unknown>): LineUsage | null {
  const usage = body.usage as Record<string, unknown> | undefined;
  if (usage === undefined) {
    return null;
  }
  const number = (value: unknown) => (typeof value === "number" ? value : 0);
  const details = (key: string) => (usage[key] ?? {}) as Record<string, unknown>;
  return {
    inputTokens: number(usage.input_tokens ?? usage.prompt_tokens),
    cachedTokens: number(
      details("input_tokens_details").cached_tokens ??
        details("prompt_tokens_details").cached_tokens,
    ),
    outputTokens: number(usage.output_tokens ?? usage.completion_tokens),
    reasoningTokens: number(
      details("output_tokens_details").reasoning_tokens ??
        details("completion_tokens_details").reasoning_tokens,
    ),
  };
}
