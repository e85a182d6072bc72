import { type Clock, unixSeconds } from "../lib/clock.js";
import type { ResponseRow } from "../store/schema.js";
import type { StreamStore } from "../store/streams.js";
import type { Outbox } from "../webhooks/outbox.js";
import type { StreamNotifier } from "./stream-notifier.js";
import { completionIdOf } from "./stream-object.js";

/** The token counts a stream adds up, from a Response's usage. */
interface Usage {
  input_tokens?: number;
  output_tokens?: number;
}

/**
 * Records the end of a stream's item: one event, the stream's counters and ferry's
 * `stream.item.completed` webhook event, written inside the caller's transaction (the same one
 * that writes the item's outcome), then wakes the stream's long-polls and the delivery lane once
 * that transaction has committed.
 */
export interface StreamItems {
  /** Inside the outcome's transaction. `status` may differ from the row's (expired). */
  record(
    row: Pick<ResponseRow, "id" | "projectId" | "streamId" | "metadata">,
    status: string,
    usage: unknown,
  ): void;
  /** After the commit. */
  notify(streamId: string | null): void;
}

export function createStreamItems(deps: {
  streams: StreamStore;
  notifier: StreamNotifier;
  clock: Clock;
  outbox: Outbox;
}): StreamItems {
  return {
    record(row, status, usage) {
      if (row.streamId === null) {
        return;
      }
      const tokens = (usage ?? null) as Usage | null;
      const completedAt = unixSeconds(deps.clock);
      const seq = deps.streams.recordEvent({
        streamId: row.streamId,
        responseId: row.id,
        customId: row.metadata.custom_id ?? null,
        status,
        promptTokens: tokens?.input_tokens ?? null,
        completionTokens: tokens?.output_tokens ?? null,
        completedAt,
      });
      if (seq !== null) {
        deps.outbox.record({
          projectId: row.projectId,
          type: "stream.item.completed",
          subjectId: row.streamId,
          createdAt: completedAt,
          data: { response_id: row.id, completion_id: completionIdOf(seq), status },
        });
      }
    },
    notify(streamId) {
      if (streamId !== null) {
        deps.notifier.notify(streamId);
        deps.outbox.notify();
      }
    },
  };
}
