import type { Backend, GenerateRequest, ModelMessage } from "../backends/backend.js";
import type { FunctionTool } from "../backends/model-contract.js";
import type { Router } from "../backends/router.js";
import type { ResponseObject, ResponseStreamEvent } from "../contract/response-object.js";
import type { CreateResponseRequest } from "../contract/responses-request.js";
import type { RetryPolicy } from "../executor/retry.js";
import { ApiError } from "../lib/api-error.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import { newId, responseIdOfOutputItem } from "../lib/ids.js";
import type { ResponseEventStore } from "../store/response-events.js";
import type { ResponseListStore } from "../store/response-list.js";
import type { ResponseStore } from "../store/responses.js";
import type { NewResponseRow, ResponseRow, StreamRow } from "../store/schema.js";
import type { WorkStore } from "../store/work-items.js";
import { itemsToMessages } from "../translate/responses-items-to-messages.js";
import { responsesModelOptions } from "../translate/responses-request-to-model.js";
import { type Callbacks, hasCallbackFields, type PendingCallback } from "../webhooks/callbacks.js";
import { recordResponseEnded } from "../webhooks/emission.js";
import type { Outbox } from "../webhooks/outbox.js";
import {
  nextEventNumber,
  RESPONSE_WORK_KIND,
  type ResponseWorkPayload,
} from "./background-responses.js";
import type { CallOptions } from "./call-options.js";
import {
  assertFitsContext,
  contextLengthExceeded,
  conversationLength,
  leastTokensFor,
} from "./context-limit.js";
import { type FileContentReader, resolveFileParts } from "./file-parts.js";
import { type KeyedNotifier, waitUntil } from "./keyed-notifier.js";
import { resolveModel } from "./models.js";
import { type Page, type PageQuery, paginateById, toPage } from "./paginate.js";
import type { QueueCap } from "./queue-cap.js";
import type { ResponseEventHub } from "./response-event-hub.js";
import {
  itemNotFound,
  normalizeInput,
  type ReferenceResolver,
  type StoredItem,
} from "./response-items.js";
import {
  failedState,
  finishedState,
  paramsFromRequest,
  type ResponseParams,
  type ResponseState,
  stateFromRow,
  storedParams,
  toResponseObject,
} from "./response-object.js";
import { logprobsOutputOf } from "./response-output.js";
import { assertImageSources, assertToolsUsable } from "./response-request-checks.js";
import { assertResponseSchemasUsable } from "./response-schemas.js";
import { streamResponseEvents } from "./response-stream.js";
import type { StreamItems } from "./stream-items.js";
import { withRetries } from "./with-retries.js";

/** Lane 0: background responses run before deferred/stream responses (1) and batch lines (2). */
export const BACKGROUND_RESPONSE_LANE = 0;
export const DEFERRED_RESPONSE_LANE = 1;

const WINDOW_SECONDS = { "1h": 3600, "24h": 86_400 } as const;

export interface ResponsesServiceDeps {
  readonly store: ResponseStore;
  readonly events: ResponseEventStore;
  readonly work: WorkStore;
  readonly hub: ResponseEventHub;
  readonly router: Router;
  readonly clock: Clock;
  readonly transaction: (fn: () => void) => void;
  readonly executor: { wake(): void; abort(workItemId: number): void };
  /** Retries of sync calls; background work is retried by the executor with the same policy. */
  readonly retry: RetryPolicy;
  readonly list: ResponseListStore;
  readonly streamItems: StreamItems;
  /** The open stream a deferred response joins; throws a 4xx for unknown, cancelled, archived. */
  readonly requireOpenStream: (projectId: string, streamId: string) => StreamRow;
  readonly countStreamItem: (streamId: string) => void;
  /** Runs `write` in the next group-commit transaction; resolves once it has committed. */
  readonly commitSoon: (write: () => void) => Promise<void>;
  readonly queueCap: QueueCap;
  /** Reads the ferry files an input image or file names by `file_id`. */
  readonly files: FileContentReader;
  /** Woken by response id after the commit that ends a response (GET ?wait_ms=). */
  readonly responseWaits: KeyedNotifier;
  /** Where a background response's end is recorded, inside the transaction that ends it. */
  readonly outbox: Outbox;
  readonly callbacks: Pick<Callbacks, "check" | "save">;
}

/** A validated request, resolved to a backend and ready to run. */
export interface PreparedResponse {
  readonly projectId: string;
  readonly id: string;
  readonly createdAt: number;
  readonly store: boolean;
  readonly background: boolean;
  readonly stream: boolean;
  readonly previousResponseId: string | null;
  /** Deferred (metadata.stream_id / metadata.completion_window): joins a stream, ends expired after its window. */
  readonly streamId: string | null;
  readonly expiresAt: number | null;
  readonly params: ResponseParams;
  readonly metadata: Record<string, string>;
  readonly inputItems: StoredItem[];
  readonly backend: Backend;
  readonly generateRequest: GenerateRequest;
  /** The model name as the client sent it, echoed on the Response. */
  readonly model: string;
  /** Where to POST the finished Response (background only), checked; never echoed. */
  readonly callback: PendingCallback | null;
}

export type ResponsesService = ReturnType<typeof createResponsesService>;

// A chain of previous_response_id links longer than this is almost surely a loop or abuse.
const MAX_CHAIN_LENGTH = 1000;
const ACTIVE_STATUSES = new Set(["queued", "in_progress"]);

export function createResponsesService(deps: ResponsesServiceDeps) {
  const { store, events, work, hub, router, clock } = deps;

  /**
   * The items of every earlier turn, oldest first. Stops with the 400 as soon as the turns read
   * so far hold more text than `contextTokens` could (see context-limit.ts), so a chain far past
   * the window costs about a window's worth of reading, not the whole history.
   */
  function loadConversation(
    projectId: string,
    previousResponseId: string,
    contextTokens: number,
  ): StoredItem[] {
    const turns: StoredItem[][] = [];
    let historyChars = 0;
    let nextId: string | null = previousResponseId;
    while (nextId !== null) {
      const row = store.find(projectId, nextId);
      if (row === undefined) {
        const detail =
          nextId === previousResponseId
            ? ""
            : ` (an earlier turn of '${previousResponseId}'; it was deleted or has expired)`;
        throw new ApiError(400, `Previous response with id '${nextId}' not found${detail}.`, {
          param: "previous_response_id",
          code: "previous_response_not_found",
          headers: { "x-should-retry": "false" },
        });
      }
      const turn = [...(row.inputItems as StoredItem[]), ...(row.output as StoredItem[])];
      turns.push(turn);
      historyChars += conversationLength(itemsToMessages(null, turn));
      if (leastTokensFor(historyChars) > contextTokens) {
        throw contextLengthExceeded(contextTokens, leastTokensFor(historyChars), "input");
      }
      nextId = row.previousResponseId;
      if (turns.length > MAX_CHAIN_LENGTH) {
        throw ApiError.invalid(
          "previous_response_id",
          `The conversation behind previous_response_id is longer than ${MAX_CHAIN_LENGTH} turns.`,
        );
      }
    }
    return turns.reverse().flat();
  }

  /**
   * Resolves an input `item_reference` as OpenAI does, to the stored item it names: one of the
   * previous_response_id chain's items (input or output; the only way to find a native
   * upstream's items, whose ids are the upstream's), or else an output item of the stored
   * response of this project that its id names (see `outputItemId`). Anything else is the 400.
   */
  function referenceResolver(projectId: string, history: readonly StoredItem[]): ReferenceResolver {
    let chainItems: Map<string, StoredItem> | null = null;
    return (id, index) => {
      chainItems ??= new Map(history.map((item) => [item.id, item]));
      const inChain = chainItems.get(id);
      if (inChain !== undefined) {
        return { ...inChain };
      }
      const responseId = responseIdOfOutputItem(id);
      const row = responseId === null ? undefined : store.find(projectId, responseId);
      const item = (row?.output as StoredItem[] | undefined)?.find((output) => output.id === id);
      if (item === undefined) {
        throw itemNotFound(id, index);
      }
      return { ...item };
    };
  }

  function initialState(
    prepared: PreparedResponse,
    status: ResponseState["status"],
  ): ResponseState {
    return {
      id: prepared.id,
      createdAt: prepared.createdAt,
      completedAt: null,
      status,
      model: prepared.model,
      background: prepared.background,
      store: prepared.store,
      previousResponseId: prepared.previousResponseId,
      params: prepared.params,
      metadata: prepared.metadata,
      output: [],
      usage: null,
      error: null,
      incompleteDetails: null,
    };
  }

  function rowFor(prepared: PreparedResponse, state: ResponseState): NewResponseRow {
    return {
      id: state.id,
      projectId: prepared.projectId,
      status: state.status,
      model: state.model,
      createdAt: state.createdAt,
      completedAt: state.completedAt,
      background: state.background,
      streamed: prepared.background && prepared.stream,
      streamId: prepared.streamId,
      expiresAt: prepared.expiresAt,
      previousResponseId: state.previousResponseId,
      params: storedParams(state.params),
      metadata: state.metadata,
      inputItems: prepared.inputItems,
      output: state.output,
      usage: state.usage as unknown as Record<string, unknown> | null,
      error: state.error,
      incompleteDetails: state.incompleteDetails,
    };
  }

  function insertRow(prepared: PreparedResponse, state: ResponseState): void {
    store.insert(rowFor(prepared, state));
  }

  /** Resolves once the row is committed: a client never gets an id that a crash could lose. */
  async function saveIfStored(prepared: PreparedResponse, state: ResponseState): Promise<void> {
    if (prepared.store) {
      await store.insertDurably(rowFor(prepared, state));
    }
  }

  function findOrThrow(projectId: string, id: string): ResponseRow {
    const row = store.find(projectId, id);
    if (row === undefined) {
      throw ApiError.notFound(`Response with id '${id}' not found.`);
    }
    return row;
  }

  /** Stops a queued or running background response; returns whether it was active. */
  function stopActive(row: ResponseRow, outcome: "cancelled" | "expired" = "cancelled"): boolean {
    let workItemId: number | null = null;
    let changed = false;
    let terminal: ResponseStreamEvent | null = null;
    deps.transaction(() => {
      changed =
        outcome === "cancelled"
          ? store.cancel(row.id)
          : store.finish(row.id, {
              status: "failed",
              completedAt: null,
              output: [],
              usage: null,
              error: {
                code: "server_error",
                message: "This response did not finish within its completion window and expired.",
              },
              incompleteDetails: null,
            });
      workItemId = work.cancelSubject(row.id, clock.nowMs());
      if (changed) {
        deps.streamItems.record(row, outcome, null);
        terminal = row.streamed ? stoppedEvent(row.id) : null;
        recordResponseEnded(deps.outbox, row, outcome, unixSeconds(clock), () => {
          const stopped = store.findById(row.id);
          return stopped === undefined ? null : toResponseObject(stateFromRow(stopped));
        });
      }
    });
    if (changed) {
      deps.outbox.notify();
    }
    if (workItemId !== null) {
      deps.executor.abort(workItemId);
    }
    if (terminal !== null) {
      hub.publish(row.id, terminal);
    }
    hub.close(row.id);
    deps.streamItems.notify(row.streamId);
    deps.responseWaits.notify(row.id);
    return changed;
  }

  /**
   * The last event of a streamed response stopped by a cancel or its window, stored with the
   * stop: the spec has no cancelled stream event (and the SDK's stream helper throws on unknown
   * types), so a cancelled response ends with response.incomplete carrying status cancelled,
   * an expired one with response.failed.
   */
  function stoppedEvent(id: string): ResponseStreamEvent | null {
    const stopped = store.findById(id);
    if (stopped === undefined) {
      return null;
    }
    const event: ResponseStreamEvent = {
      type: stopped.status === "cancelled" ? "response.incomplete" : "response.failed",
      sequence_number: nextEventNumber(hub, events, id),
      response: toResponseObject(stateFromRow(stopped)),
    };
    events.insertMany(id, [event]);
    return event;
  }

  /** metadata.stream_id and metadata.completion_window make a response deferred. */
  function readDeferral(projectId: string, request: CreateResponseRequest) {
    const metadata = request.metadata ?? {};
    const streamId = metadata.stream_id;
    const windowText = metadata.completion_window;
    if (streamId === undefined && windowText === undefined) {
      return null;
    }
    // Own keys only: `"constructor" in WINDOW_SECONDS` is true.
    if (windowText !== undefined && !Object.hasOwn(WINDOW_SECONDS, windowText)) {
      throw ApiError.invalid(
        "metadata.completion_window",
        `Invalid 'metadata.completion_window': '${windowText}'. Supported values are: '1h', '24h'.`,
        "invalid_value",
      );
    }
    if (request.store === false) {
      throw ApiError.invalid(
        "store",
        "A deferred response (metadata.stream_id or metadata.completion_window) must be stored.",
      );
    }
    const stream = streamId === undefined ? null : deps.requireOpenStream(projectId, streamId);
    const window = (windowText ?? stream?.window ?? "24h") as keyof typeof WINDOW_SECONDS;
    return { streamId: stream?.id ?? null, windowSeconds: WINDOW_SECONDS[window] };
  }

  /** Replays stored or live events after `startingAfter`, following a running response to its end. */
  async function* followEvents(
    id: string,
    startingAfter: number,
    signal: AbortSignal,
  ): AsyncGenerator<ResponseStreamEvent> {
    const queue: ResponseStreamEvent[] = [];
    let isEnded = false;
    let wakeReader: (() => void) | null = null;
    const listener = {
      onEvent: (event: ResponseStreamEvent) => {
        queue.push(event);
        wakeReader?.();
      },
      onEnd: () => {
        isEnded = true;
        wakeReader?.();
      },
    };
    let unsubscribe = hub.follow(id, startingAfter, listener);
    if (unsubscribe === null) {
      // Not running in this process right now. If it is still queued (say, after a restart),
      // open its channel so the executor's run publishes into it; otherwise the database has
      // every event. Both checks happen in one synchronous step, so no commit slips between.
      const row = store.findById(id);
      if (row !== undefined && ACTIVE_STATUSES.has(row.status)) {
        hub.ensure(id, () => events.listAfter(id, -1));
        unsubscribe = hub.follow(id, startingAfter, listener);
      } else {
        yield* events.listAfter(id, startingAfter);
        return;
      }
    }
    const onAbort = () => wakeReader?.();
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (isEnded) {
          return;
        }
        await new Promise<void>((resolve) => {
          wakeReader = resolve;
        });
        wakeReader = null;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      unsubscribe?.();
    }
  }

  return {
    /**
     * Validates what the schema cannot (model, tools, previous turns, mode), resolves the backend,
     * and reads the ferry files the input refers to (so it is async).
     */
    async prepare(projectId: string, request: CreateResponseRequest): Promise<PreparedResponse> {
      if (request.conversation !== undefined && request.conversation !== null) {
        throw ApiError.invalid(
          "conversation",
          "Conversations are not supported by ferry; chain turns with previous_response_id instead.",
        );
      }
      if (request.background === true && request.store === false) {
        throw ApiError.invalid(
          "store",
          "Background mode requires store=true; stateless responses cannot run in the background.",
        );
      }
      if (
        request.stream_options !== undefined &&
        request.stream_options !== null &&
        request.stream !== true
      ) {
        throw ApiError.invalid(
          "stream_options",
          "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        );
      }
      if (request.input === undefined && !request.previous_response_id) {
        throw ApiError.invalid(
          "input",
          "Missing required parameter: 'input'.",
          "missing_required_parameter",
        );
      }
      const deferral = readDeferral(projectId, request);
      const isBackground = (request.background ?? false) || deferral !== null;
      if (!isBackground && hasCallbackFields(request)) {
        const field = request.callback_url !== undefined ? "callback_url" : "callback_auth";
        throw ApiError.invalid(
          field,
          `'${field}' needs background=true: a response that is answered in the request has nothing to call back.`,
        );
      }
      const resolved = resolveModel(router, request.model);
      const isNative = resolved.backend.native === "responses";
      assertToolsUsable(request, { native: isNative, model: request.model });
      assertImageSources(request.input);
      assertResponseSchemasUsable(request);
      const params = paramsFromRequest(request);
      const previousResponseId = request.previous_response_id ?? null;
      const history =
        previousResponseId === null
          ? []
          : loadConversation(projectId, previousResponseId, resolved.contextTokens);
      const inputItems = normalizeInput(request.input, referenceResolver(projectId, history));
      const conversation = [...history, ...inputItems];
      const messages = await resolveFileParts(itemsToMessages(params.instructions, conversation), {
        projectId,
        files: deps.files,
        paramFor: (fileId) => fileParamOf(request.input, fileId) ?? "previous_response_id",
      });
      const options = responsesModelOptions(request);
      assertFitsContext(messages, resolved.contextTokens, "input");
      const metadata = request.metadata ?? {};
      const createdAt = unixSeconds(clock);
      return {
        projectId,
        id: newId("response"),
        createdAt,
        store: request.store ?? true,
        background: isBackground,
        streamId: deferral?.streamId ?? null,
        expiresAt: deferral === null ? null : createdAt + deferral.windowSeconds,
        stream: request.stream ?? false,
        previousResponseId,
        params,
        metadata,
        inputItems,
        backend: resolved.backend,
        model: request.model,
        generateRequest: {
          model: resolved.upstreamModel,
          messages,
          tools: sharedModelTools(request.tools, options.tools),
          toolChoice: options.toolChoice,
          parallelToolCalls: options.parallelToolCalls,
          outputFormat: options.outputFormat,
          sampling: options.sampling,
          maxOutputTokens: params.max_output_tokens,
          reasoningEffort: options.reasoningEffort,
          user: options.user,
          metadata,
          // Only a native backend reads the body; others would just carry it in work payloads.
          ...(isNative ? { responsesBody: nativeBody(request, conversation, messages) } : {}),
        },
        // Checked last, once the request is otherwise valid: it may resolve a name.
        callback: await deps.callbacks.check(request),
      };
    },

    /** Runs a prepared response to the end (retrying what is retryable) and stores it. */
    async complete(
      prepared: PreparedResponse,
      signal: AbortSignal,
      options: CallOptions = {},
    ): Promise<ResponseObject> {
      const generation = await withRetries(
        () => prepared.backend.generate(prepared.generateRequest, signal, options),
        options.retry ?? deps.retry,
        signal,
      );
      const state = finishedState(
        initialState(prepared, "in_progress"),
        generation,
        unixSeconds(clock),
        { logprobs: logprobsOutputOf(prepared.generateRequest.sampling) },
      );
      await saveIfStored(prepared, state);
      return toResponseObject(state);
    },

    /**
     * Starts a streamed response. Resolves once the backend has produced its first event, so a
     * backend that fails at once (a 429, a 500) becomes an ordinary HTTP error, not a stream.
     */
    async stream(
      prepared: PreparedResponse,
      signal: AbortSignal,
    ): Promise<AsyncIterable<ResponseStreamEvent>> {
      const { generation, first } = await withRetries(
        async () => {
          const iterator = prepared.backend
            .streamGenerate(prepared.generateRequest, signal)
            [Symbol.asyncIterator]();
          return { generation: iterator, first: await iterator.next() };
        },
        deps.retry,
        signal,
      );
      const logprobs = logprobsOutputOf(prepared.generateRequest.sampling);
      return streamResponseEvents({
        initial: initialState(prepared, "in_progress"),
        first,
        generation,
        signal,
        logprobs,
        finish: (state, generated, output) =>
          finishedState(state, generated, unixSeconds(clock), { logprobs, output }),
        fail: failedState,
        // onEnd is synchronous (the terminal event follows it at once), so the stream stores its
        // row with a synchronous insert rather than the group commit.
        onEnd: (state) => {
          if (prepared.store) {
            insertRow(prepared, state);
          }
        },
      });
    },

    /**
     * Queues a background response: the row, its opening events (when streamed) and its work
     * item are written in one transaction, so a crash leaves all of it or none.
     */
    async enqueue(prepared: PreparedResponse): Promise<ResponseObject> {
      deps.queueCap.assertRoom(prepared.projectId, 1);
      const state = initialState(prepared, "queued");
      const streamed = prepared.stream;
      const opening: ResponseStreamEvent[] = streamed
        ? ["response.created", "response.queued"].map((type, index) => ({
            type,
            sequence_number: index,
            response: toResponseObject(state),
          }))
        : [];
      const payload: ResponseWorkPayload = { generateRequest: prepared.generateRequest, streamed };
      const write = () => {
        insertRow(prepared, state);
        if (prepared.callback !== null) {
          deps.callbacks.save(
            { projectId: prepared.projectId, subjectId: state.id, createdAt: state.createdAt },
            prepared.callback,
          );
        }
        events.insertMany(state.id, opening);
        if (prepared.streamId !== null) {
          deps.countStreamItem(prepared.streamId);
        }
        const isDeferred = prepared.expiresAt !== null;
        work.enqueue({
          kind: RESPONSE_WORK_KIND,
          subjectId: state.id,
          projectId: prepared.projectId,
          lane: isDeferred ? DEFERRED_RESPONSE_LANE : BACKGROUND_RESPONSE_LANE,
          ownerKey: prepared.streamId ?? prepared.projectId,
          backend: prepared.backend.name,
          payload: payload as unknown as Record<string, unknown>,
          nowMs: clock.nowMs(),
        });
      };
      if (prepared.streamId === null) {
        // Many concurrent submits share one commit; the client hears "queued" only after it.
        await deps.commitSoon(write);
      } else {
        // A stream item is written in the same tick its stream was checked open, so a stream
        // cancelled meanwhile can never gain an item.
        deps.transaction(write);
      }
      if (streamed) {
        hub.ensure(state.id, () => [...opening]);
      }
      deps.executor.wake();
      return toResponseObject(state);
    },

    /** The events of a streamed background response after `startingAfter` (-1: all), live to the end. */
    events(
      projectId: string,
      id: string,
      startingAfter: number,
      signal: AbortSignal,
    ): AsyncIterable<ResponseStreamEvent> {
      const row = findOrThrow(projectId, id);
      if (!row.streamed) {
        throw ApiError.invalid(
          "stream",
          "This response cannot be streamed: only background responses created with stream=true can be streamed again.",
        );
      }
      return followEvents(id, startingAfter, signal);
    },

    cancel(projectId: string, id: string): ResponseObject {
      const row = findOrThrow(projectId, id);
      if (!row.background) {
        throw ApiError.invalid(
          null,
          "Cannot cancel a synchronous response. Only background responses can be cancelled.",
        );
      }
      if (ACTIVE_STATUSES.has(row.status)) {
        stopActive(row);
      }
      // Cancelling again, or a response that already finished, answers its current state.
      return toResponseObject(stateFromRow(findOrThrow(projectId, id)));
    },

    /** `GET /v1/responses`: newest first, optionally one stream's. */
    list(
      projectId: string,
      query: { limit: number; after?: string | undefined; streamId?: string | undefined },
    ): Page<ResponseObject> {
      const after = query.after === undefined ? null : (store.find(projectId, query.after) ?? null);
      if (query.after !== undefined && after === null) {
        throw ApiError.invalid(
          "after",
          `No response found with id '${query.after}'; 'after' must be the id of a response.`,
        );
      }
      const rows = deps.list.list(projectId, {
        after,
        limit: query.limit + 1,
        streamId: query.streamId,
      });
      return toPage(
        rows.slice(0, query.limit).map((row) => toResponseObject(stateFromRow(row))),
        rows.length > query.limit,
      );
    },

    /** Cancels every queued and running response of a stream (the stream was cancelled). */
    cancelStreamItems(streamId: string): void {
      for (const id of deps.list.activeIdsOfStream(streamId)) {
        const row = store.findById(id);
        if (row !== undefined && ACTIVE_STATUSES.has(row.status)) {
          stopActive(row);
        }
      }
    },

    /** Ends deferred responses whose completion window has passed; returns how many. */
    expireOverdue(): number {
      const overdue = deps.list.overdue(unixSeconds(clock), 500);
      for (const row of overdue) {
        stopActive(row, "expired");
      }
      return overdue.length;
    },

    /** The Response a stream event carries (any project: the caller checked the stream's). */
    findForEvent(responseId: string): ResponseObject | null {
      const row = store.findById(responseId);
      return row === undefined ? null : toResponseObject(stateFromRow(row));
    },

    retrieve(projectId: string, id: string): ResponseObject {
      return toResponseObject(stateFromRow(findOrThrow(projectId, id)));
    },

    /**
     * The Response once it has ended, or as it is after `waitMs`. In-process commits wake the
     * wait at once; another process's commit is seen within CROSS_PROCESS_RECHECK_MS.
     */
    async retrieveWhenEnded(
      projectId: string,
      id: string,
      waitMs: number,
      signal: AbortSignal,
    ): Promise<ResponseObject> {
      const read = () => toResponseObject(stateFromRow(findOrThrow(projectId, id)));
      return waitUntil({
        notifier: deps.responseWaits,
        key: id,
        waitMs,
        signal,
        nowMs: () => clock.nowMs(),
        read,
        isDone: (response) => !ACTIVE_STATUSES.has(response.status),
      });
    },

    delete(projectId: string, id: string): { id: string; object: "response"; deleted: true } {
      const row = findOrThrow(projectId, id);
      if (ACTIVE_STATUSES.has(row.status) && row.background) {
        stopActive(row);
      }
      if (!store.delete(projectId, id)) {
        throw ApiError.notFound(`Response with id '${id}' not found.`);
      }
      return { id, object: "response", deleted: true };
    },

    listInputItems(projectId: string, id: string, query: PageQuery): Page<StoredItem> {
      const row = findOrThrow(projectId, id);
      return paginateById(row.inputItems as StoredItem[], query, "input item");
    },
  };
}

// The model tools of each shared tools array (json-member-cache.ts: the same frozen array for
// every request that repeats it), built once and frozen, so a backend can key on them by
// identity (the mock's answer cache does).
const modelToolsOfShared = new WeakMap<object, readonly FunctionTool[]>();

function sharedModelTools(
  requestTools: CreateResponseRequest["tools"],
  built: readonly FunctionTool[],
): readonly FunctionTool[] {
  if (requestTools === undefined || !Object.isFrozen(requestTools)) {
    return built;
  }
  const known = modelToolsOfShared.get(requestTools);
  if (known !== undefined) {
    return known;
  }
  for (const tool of built) {
    Object.freeze(tool);
  }
  modelToolsOfShared.set(requestTools, Object.freeze(built));
  return built;
}

/**
 * The body a native Responses backend forwards: the client's, with `input` the whole
 * conversation as items (the turns behind previous_response_id first), since the upstream does
 * not know ferry's response ids.
 */
function nativeBody(
  request: CreateResponseRequest,
  conversation: readonly StoredItem[],
  resolved: readonly ModelMessage[],
): Record<string, unknown> {
  // ferry's callback fields (credentials among them) are ferry's, not the upstream's.
  const {
    previous_response_id: _previous,
    callback_url: _url,
    callback_auth: _auth,
    callback_secret: _secret,
    ...body
  } = request;
  return { ...body, input: withFilesInline(conversation, resolved) };
}

/**
 * The items with each ferry `file_id` part replaced by the data URL it resolved to (found in
 * the resolved messages): the upstream has its own files, not ferry's.
 */
function withFilesInline(
  items: readonly StoredItem[],
  resolved: readonly ModelMessage[],
): readonly StoredItem[] {
  const inline = new Map<string, string>();
  for (const message of resolved) {
    for (const part of message.content) {
      if (part.type === "image" && part.fileId !== undefined) {
        inline.set(part.fileId, part.url);
      } else if (part.type === "file" && part.fileId !== undefined && part.data !== undefined) {
        inline.set(part.fileId, part.data);
      }
    }
  }
  if (inline.size === 0) {
    return items;
  }
  const inlinePart = (part: Record<string, unknown>): Record<string, unknown> => {
    const data = typeof part.file_id === "string" ? inline.get(part.file_id) : undefined;
    if (data === undefined) {
      return part;
    }
    const { file_id: _fileId, ...rest } = part;
    return part.type === "input_image"
      ? { ...rest, image_url: data }
      : { ...rest, file_data: data };
  };
  return items.map((item) => {
    const field = item.type === "message" ? "content" : "output";
    const parts = item[field];
    return Array.isArray(parts)
      ? { ...item, [field]: parts.map((part: Record<string, unknown>) => inlinePart(part)) }
      : item;
  });
}

/** Where a file id sits in the new input, as a `param` (`input[2].content[0].file_id`). */
function fileParamOf(input: CreateResponseRequest["input"], fileId: string): string | null {
  if (!Array.isArray(input)) {
    return null;
  }
  for (const [itemIndex, item] of input.entries()) {
    const [field, parts] =
      item.type === "message"
        ? ["content", item.content]
        : item.type === "function_call_output"
          ? ["output", item.output]
          : ["", null];
    if (!Array.isArray(parts)) {
      continue;
    }
    const partIndex = parts.findIndex((part) => (part as { file_id?: unknown }).file_id === fileId);
    if (partIndex >= 0) {
      return `input[${itemIndex}].${field}[${partIndex}].file_id`;
    }
  }
  return null;
}
