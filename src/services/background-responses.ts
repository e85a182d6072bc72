import type { GenerateRequest } from "../backends/backend.js";
import type { Router } from "../backends/router.js";
import type { ResponseStreamEvent } from "../contract/response-object.js";
import type { WorkHandler, WorkOutcome } from "../executor/executor.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import type { ResponseEventStore } from "../store/response-events.js";
import type { ResponseOutcome, ResponseStore } from "../store/responses.js";
import type { ResponseRow } from "../store/schema.js";
import type { ClaimedWork } from "../store/work-items.js";
import { recordResponseEnded } from "../webhooks/emission.js";
import type { Outbox } from "../webhooks/outbox.js";
import type { KeyedNotifier } from "./keyed-notifier.js";
import type { ResponseEventHub } from "./response-event-hub.js";
import {
  failedState,
  finishedState,
  type ResponseState,
  stateFromRow,
  toResponseObject,
} from "./response-object.js";
import { logprobsOutputOf } from "./response-output.js";
import { streamResponseEvents } from "./response-stream.js";
import type { StreamItems } from "./stream-items.js";

/** What the queue row of a background response carries: the backend request, ready to send. */
export interface ResponseWorkPayload {
  readonly generateRequest: GenerateRequest;
  /** Created with stream=true: events are published live and stored for replay. */
  readonly streamed: boolean;
}

export const RESPONSE_WORK_KIND = "response";

const TERMINAL_EVENTS = new Set(["response.completed", "response.incomplete", "response.failed"]);

// A run reserves event numbers this many at a time (one small write per block), before it
// publishes them: see ResponseEventStore.
const RESERVED_NUMBERS_PER_WRITE = 64;

/**
 * The sequence number for a streamed background response's next event: after everything its
 * open channel has, and everything stored or reserved, so numbers only ever grow, across
 * re-runs after a crash too.
 */
export function nextEventNumber(
  hub: ResponseEventHub,
  events: ResponseEventStore,
  responseId: string,
): number {
  return Math.max(hub.nextSequenceNumber(responseId), events.nextSequenceNumber(responseId));
}

/**
 * Runs background responses for the executor. The generation happens in `run`; everything it
 * writes happens in the outcome's `commit`, inside the executor's results transaction, so a
 * response gets exactly one recorded result however often its backend call ran.
 */
export function createResponseWorkHandler(deps: {
  responses: ResponseStore;
  events: ResponseEventStore;
  hub: ResponseEventHub;
  router: Router;
  clock: Clock;
  streamItems: StreamItems;
  /** Woken by response id after the commit that ends a response (GET ?wait_ms=). */
  responseWaits: KeyedNotifier;
  outbox: Outbox;
}): WorkHandler {
  const { responses, events, hub, router, clock, streamItems, responseWaits, outbox } = deps;

  function loadRow(item: ClaimedWork): ResponseRow {
    const row = responses.find(item.projectId, item.subjectId);
    if (row === undefined) {
      throw new Error(`response ${item.subjectId} no longer exists`);
    }
    return row;
  }

  /** Writes the outcome, a stream item's completion event and the webhook event: one transaction. */
  function record(row: ResponseRow, state: ResponseState): void {
    if (responses.finish(row.id, outcomeOf(state))) {
      streamItems.record(row, state.status, state.usage);
      recordResponseEnded(outbox, row, state.status, unixSeconds(clock), () => {
        const ended = responses.findById(row.id);
        return ended === undefined ? null : toResponseObject(stateFromRow(ended));
      });
    }
  }

  /** After the commit: a stream's long-polls, and the delivery lane. */
  /** After the commit that ended a response: its stream's long-polls, its waits, its events. */
  function afterEnded(row: ResponseRow): void {
    streamItems.notify(row.streamId);
    responseWaits.notify(row.id);
    outbox.notify();
  }

  function outcomeOf(state: ResponseState): ResponseOutcome {
    return {
      status: state.status,
      completedAt: state.completedAt,
      output: state.output,
      usage: state.usage as unknown as Record<string, unknown> | null,
      error: state.error,
      incompleteDetails: state.incompleteDetails,
    };
  }

  function channelFor(responseId: string) {
    return hub.ensure(responseId, () => events.listAfter(responseId, -1));
  }

  return {
    onClaimed(items) {
      responses.markInProgress(items.map((item) => item.subjectId));
    },

    async run(item, signal, slot): Promise<WorkOutcome> {
      const payload = item.payload as unknown as ResponseWorkPayload;
      const backend = router.backendByName(item.backend);
      if (backend === null) {
        throw new Error(`backend '${item.backend}' is no longer configured`);
      }
      const row = loadRow(item);
      const state: ResponseState = { ...stateFromRow(row), status: "in_progress" };
      if (!payload.streamed) {
        // The backend call runs in the slot the executor took when it claimed the item.
        const generation = await backend.generate(payload.generateRequest, signal, { slot });
        const final = finishedState(state, generation, unixSeconds(clock), {
          logprobs: logprobsOutputOf(payload.generateRequest.sampling),
        });
        return {
          commit: () => record(row, final),
          afterCommit: () => afterEnded(row),
        };
      }

      // Await the first event before publishing anything: a backend that fails at once is
      // retried cleanly, with no half-told stream for the reader.
      const generation = backend
        .streamGenerate(payload.generateRequest, signal, { slot })
        [Symbol.asyncIterator]();
      const first = await generation.next();
      const channel = channelFor(item.subjectId);
      // A re-run (the process running it before died) goes on after the lost run's numbers and
      // opens with response.in_progress, whose empty output tells a resuming client (and the SDK's
      // stream helper, which takes it as the new snapshot) to drop what the lost run sent.
      const firstSequenceNumber = nextEventNumber(hub, events, item.subjectId);
      let reservedThrough = firstSequenceNumber - 1;
      const publish = (event: ResponseStreamEvent) => {
        if (event.sequence_number > reservedThrough) {
          reservedThrough = event.sequence_number + RESERVED_NUMBERS_PER_WRITE - 1;
          events.reserveThrough(item.subjectId, reservedThrough);
        }
        hub.publish(item.subjectId, event);
      };
      const logprobs = logprobsOutputOf(payload.generateRequest.sampling);
      let final: ResponseState = state;
      let terminal: ResponseStreamEvent | null = null;
      for await (const event of streamResponseEvents({
        initial: state,
        opening: ["response.in_progress"],
        firstSequenceNumber,
        first,
        generation,
        signal,
        logprobs,
        finish: (current, generated, output) =>
          finishedState(current, generated, unixSeconds(clock), { logprobs, output }),
        fail: (current, err) =>
          failedState(current, err, { backend: item.backend, attempts: item.attempts }),
        onEnd: (ended) => {
          final = ended;
        },
      })) {
        if (TERMINAL_EVENTS.has(event.type)) {
          terminal = event; // told only once it is committed, so a GET then agrees
        } else {
          publish(event);
        }
      }
      signal.throwIfAborted();
      const ran = channel.events.filter((event) => event.sequence_number >= firstSequenceNumber);
      const last = terminal;
      return {
        commit: () => {
          record(row, final);
          events.insertMany(item.subjectId, last === null ? ran : [...ran, last]);
        },
        afterCommit: () => {
          if (last !== null) {
            hub.publish(item.subjectId, last);
          }
          hub.close(item.subjectId);
          afterEnded(row);
        },
      };
    },

    onFailure(item, err): WorkOutcome {
      const payload = item.payload as unknown as ResponseWorkPayload;
      let row: ResponseRow;
      try {
        row = loadRow(item);
      } catch {
        return { commit: () => {} }; // deleted meanwhile: nothing to record
      }
      const state = failedState({ ...stateFromRow(row), status: "in_progress" }, err, {
        backend: item.backend,
        attempts: item.attempts,
      });
      if (!payload.streamed) {
        return {
          commit: () => record(row, state),
          afterCommit: () => afterEnded(row),
        };
      }
      const event: ResponseStreamEvent = {
        type: "response.failed",
        sequence_number: nextEventNumber(hub, events, item.subjectId),
        response: toResponseObject(state),
      };
      return {
        commit: () => {
          record(row, state);
          events.insertMany(item.subjectId, [event]);
        },
        afterCommit: () => {
          hub.publish(item.subjectId, event);
          hub.close(item.subjectId);
          afterEnded(row);
        },
      };
    },
  };
}
