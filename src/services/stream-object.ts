import type { StreamEventRow, StreamRow } from "../store/schema.js";

/** Completion ids: `cmpl_` and the global sequence, zero-padded so that text order is time order. */
const COMPLETION_PREFIX = "cmpl_";
const SEQ_DIGITS = 16;

export function completionIdOf(seq: number): string {
  return COMPLETION_PREFIX + String(seq).padStart(SEQ_DIGITS, "0");
}

/** The sequence number in a completion id, or null when it is not one of ours. */
export function seqOfCompletionId(id: string): number | null {
  const match = /^cmpl_(\d{16})$/.exec(id);
  return match?.[1] === undefined ? null : Number(match[1]);
}

export interface StreamObject {
  id: string;
  object: "stream";
  name: string;
  window: string;
  status: string;
  created_at: number;
  updated_at: number;
  cancelled_at: number | null;
  archived_at: number | null;
}

export interface StreamDetail extends StreamObject {
  total_items: number;
  pending_items: number;
  running_items: number;
  completed_items: number;
  failed_items: number;
  cancelled_items: number;
  completion_ratio: number;
  total_prompt_tokens: number;
  total_completion_tokens: number;
  total_tokens: number;
  last_completion_at: number | null;
  latest_completion_id: string | null;
}

export function toStreamObject(row: StreamRow): StreamObject {
  return {
    id: row.id,
    object: "stream",
    name: row.name,
    window: row.window,
    status: row.status,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    cancelled_at: row.cancelledAt,
    archived_at: row.archivedAt,
  };
}

export function toStreamDetail(
  row: StreamRow,
  active: { pending: number; running: number },
): StreamDetail {
  const finished = row.completedItems + row.failedItems + row.cancelledItems;
  return {
    ...toStreamObject(row),
    total_items: row.totalItems,
    pending_items: active.pending,
    running_items: active.running,
    completed_items: row.completedItems,
    failed_items: row.failedItems,
    cancelled_items: row.cancelledItems,
    completion_ratio: row.totalItems === 0 ? 0 : finished / row.totalItems,
    total_prompt_tokens: row.promptTokens,
    total_completion_tokens: row.completionTokens,
    total_tokens: row.promptTokens + row.completionTokens,
    last_completion_at: row.lastCompletionAt,
    latest_completion_id:
      row.latestCompletionSeq === null ? null : completionIdOf(row.latestCompletionSeq),
  };
}

export interface StreamEventObject {
  /** The completion id again, so generic OpenAI list clients can page on `id`. */
  id: string;
  object: "stream.event";
  completion_id: string;
  response_id: string;
  custom_id: string | null;
  status: string;
  result: unknown;
  error: unknown;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
  completed_at: number;
}

/** `result` is the Response (null once it is gone); `error` is its error, when it failed. */
export function toStreamEvent(
  row: StreamEventRow,
  response: Record<string, unknown> | null,
): StreamEventObject {
  const total =
    row.promptTokens === null && row.completionTokens === null
      ? null
      : (row.promptTokens ?? 0) + (row.completionTokens ?? 0);
  return {
    id: completionIdOf(row.seq),
    object: "stream.event",
    completion_id: completionIdOf(row.seq),
    response_id: row.responseId,
    custom_id: row.customId,
    status: row.status,
    result: response,
    error:
      (response?.error as unknown) ??
      (row.status === "expired"
        ? { code: "expired", message: "The item did not finish within the stream's window." }
        : null),
    prompt_tokens: row.promptTokens,
    completion_tokens: row.completionTokens,
    total_tokens: total,
    completed_at: row.completedAt,
  };
}
