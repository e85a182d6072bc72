import { ApiError } from "../lib/api-error.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import { newId } from "../lib/ids.js";
import type { StreamRow } from "../store/schema.js";
import type { EventPage, StreamStore } from "../store/streams.js";
import { toPage } from "./paginate.js";
import type { StreamNotifier } from "./stream-notifier.js";
import {
  type StreamDetail,
  type StreamEventObject,
  type StreamObject,
  seqOfCompletionId,
  toStreamDetail,
  toStreamEvent,
  toStreamObject,
} from "./stream-object.js";

export type StreamWindow = "1h" | "24h";

export interface EventsQuery {
  readonly limit: number;
  readonly startingAfter?: string | undefined;
  readonly endingBefore?: string | undefined;
  readonly waitMs: number;
}

export interface StreamsServiceDeps {
  readonly streams: StreamStore;
  readonly notifier: StreamNotifier;
  readonly clock: Clock;
  /** The Response a completion event carries, or null once it is gone. */
  readonly findResponse: (responseId: string) => Record<string, unknown> | null;
  /** Cancels every queued and running item of a stream (responses service). */
  readonly cancelItems: (streamId: string) => void;
}

export function createStreamsService(deps: StreamsServiceDeps) {
  const { streams, notifier, clock } = deps;

  function findOrThrow(projectId: string, id: string): StreamRow {
    const row = streams.find(projectId, id);
    if (row === undefined) {
      throw ApiError.notFound(`No stream found with id '${id}'.`);
    }
    return row;
  }

  function cursorSeq(param: string, value: string): number {
    const seq = seqOfCompletionId(value);
    if (seq === null) {
      throw ApiError.invalid(
        param,
        `Invalid '${param}': '${value}' is not a completion id (they look like cmpl_0000000000000042).`,
      );
    }
    return seq;
  }

  function readPage(streamId: string, query: EventsQuery): EventPage {
    if (query.startingAfter !== undefined) {
      return streams.after(streamId, cursorSeq("starting_after", query.startingAfter), query.limit);
    }
    if (query.endingBefore !== undefined) {
      return streams.before(streamId, cursorSeq("ending_before", query.endingBefore), query.limit);
    }
    return streams.latest(streamId, query.limit);
  }

  return {
    create(projectId: string, request: { name: string; window: StreamWindow }): StreamObject {
      const now = unixSeconds(clock);
      const id = newId("stream");
      streams.insert({
        id,
        projectId,
        name: request.name,
        window: request.window,
        status: "open",
        createdAt: now,
        updatedAt: now,
      });
      return toStreamObject(findOrThrow(projectId, id));
    },

    list(projectId: string, query: { limit: number; after?: string | undefined }) {
      const after =
        query.after === undefined ? null : (streams.find(projectId, query.after) ?? null);
      if (query.after !== undefined && after === null) {
        throw ApiError.invalid(
          "after",
          `No stream found with id '${query.after}'; 'after' must be the id of a stream.`,
        );
      }
      const rows = streams.list(projectId, after, query.limit + 1);
      const page = toPage(
        rows.slice(0, query.limit).map(toStreamObject),
        rows.length > query.limit,
      );
      // The seed SDK reads `items`; OpenAI's list convention is `data`. Both carry the same list.
      return { ...page, items: page.data };
    },

    retrieve(projectId: string, id: string): StreamDetail {
      const row = findOrThrow(projectId, id);
      return toStreamDetail(row, streams.countActive(id));
    },

    /** `{"status": "cancelled"}` stops its items; `{"status": "archived"}` makes it read-only. */
    update(projectId: string, id: string, status: "cancelled" | "archived"): StreamDetail {
      const row = findOrThrow(projectId, id);
      if (row.status === status) {
        return toStreamDetail(row, streams.countActive(id));
      }
      if (!streams.setStatus(id, status, unixSeconds(clock))) {
        throw new ApiError(
          409,
          `Cannot change a stream with status '${row.status}' to '${status}'.`,
          {
            headers: { "x-should-retry": "false" },
          },
        );
      }
      if (status === "cancelled") {
        deps.cancelItems(id);
      }
      return toStreamDetail(findOrThrow(projectId, id), streams.countActive(id));
    },

    /**
     * A stream that takes new items: open. Unknown is 404-like (400 naming the field, since it
     * came in metadata); cancelled or archived is a 409.
     */
    requireOpen(projectId: string, id: string): StreamRow {
      const row = streams.find(projectId, id);
      if (row === undefined) {
        throw new ApiError(404, `No stream found with id '${id}'.`, {
          param: "metadata.stream_id",
          headers: { "x-should-retry": "false" },
        });
      }
      if (row.status !== "open") {
        throw new ApiError(409, `Stream '${id}' is ${row.status}; it takes no new items.`, {
          param: "metadata.stream_id",
          headers: { "x-should-retry": "false" },
        });
      }
      return row;
    },

    /**
     * The completion events of a stream, by cursor (see EventsQuery). With `waitMs`, an empty
     * forward page waits until an item completes or the time is up; the wake-up comes from the
     * commit that records the completion.
     */
    async events(projectId: string, id: string, query: EventsQuery, signal: AbortSignal) {
      findOrThrow(projectId, id);
      const deadline = clock.nowMs() + query.waitMs;
      const canWait = query.endingBefore === undefined;
      for (;;) {
        const page = readPage(id, query);
        const remainingMs = deadline - clock.nowMs();
        if (page.events.length > 0 || !canWait || remainingMs <= 0 || signal.aborted) {
          const data: StreamEventObject[] = page.events.map((event) =>
            toStreamEvent(event, deps.findResponse(event.responseId)),
          );
          return toPage(data, page.hasMore);
        }
        await notifier.wait(id, remainingMs, signal);
      }
    },
  };
}

export type StreamsService = ReturnType<typeof createStreamsService>;
