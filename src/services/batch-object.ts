import type { BatchRow } from "../store/schema.js";

/**
 * OpenAI's Batch object. Unset timestamps and ids are left out rather than sent as null: the
 * spec types them as non-null, and both SDKs read a missing field as unset.
 */
export interface BatchObject {
  id: string;
  object: "batch";
  endpoint: string;
  model?: string;
  errors?: {
    object: "list";
    data: { code: string; message: string; param: string | null; line: number | null }[];
  };
  input_file_id: string;
  completion_window: string;
  status: string;
  output_file_id?: string;
  error_file_id?: string;
  created_at: number;
  in_progress_at?: number;
  expires_at: number;
  finalizing_at?: number;
  completed_at?: number;
  failed_at?: number;
  expired_at?: number;
  cancelling_at?: number;
  cancelled_at?: number;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
  usage: {
    input_tokens: number;
    input_tokens_details: { cached_tokens: number };
    output_tokens: number;
    output_tokens_details: { reasoning_tokens: number };
    total_tokens: number;
  };
}

export function toBatchObject(row: BatchRow): BatchObject {
  const optional = <K extends string, V>(key: K, value: V | null): { [P in K]?: V } =>
    (value === null ? {} : { [key]: value }) as { [P in K]?: V };
  return {
    id: row.id,
    object: "batch",
    endpoint: row.endpoint,
    ...optional("model", row.model),
    ...optional(
      "errors",
      row.errors === null ? null : { object: "list" as const, data: row.errors },
    ),
    input_file_id: row.inputFileId,
    completion_window: row.completionWindow,
    status: row.status,
    ...optional("output_file_id", row.outputFileId),
    ...optional("error_file_id", row.errorFileId),
    created_at: row.createdAt,
    ...optional("in_progress_at", row.inProgressAt),
    expires_at: row.expiresAt,
    ...optional("finalizing_at", row.finalizingAt),
    ...optional("completed_at", row.completedAt),
    ...optional("failed_at", row.failedAt),
    ...optional("expired_at", row.status === "expired" ? row.expiredAt : null),
    ...optional("cancelling_at", row.cancellingAt),
    ...optional("cancelled_at", row.cancelledAt),
    request_counts: {
      total: row.totalCount,
      completed: row.completedCount,
      failed: row.failedCount,
    },
    metadata: row.metadata ?? null,
    usage: {
      input_tokens: row.inputTokens,
      input_tokens_details: { cached_tokens: row.cachedTokens },
      output_tokens: row.outputTokens,
      output_tokens_details: { reasoning_tokens: row.reasoningTokens },
      total_tokens: row.inputTokens + row.outputTokens,
    },
  };
}
