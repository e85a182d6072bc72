import {
  type Backend,
  BackendError,
  type GenerateRequest,
  type Generation,
} from "../backends/backend.js";
import type { Router } from "../backends/router.js";
import type { ResponseObject, ResponseStreamEvent } from "../contract/response-object.js";
import type { CreateResponseRequest } from "../contract/responses-request.js";
import { ApiError } from "../lib/api-error.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import { newId } from "../lib/ids.js";
import type { ResponseStore } from "../store/responses.js";
import type { ResponseRow } from "../store/schema.js";
import { itemsToChatMessages } from "../translate/responses-to-chat.js";
import { resolveModel } from "./models.js";
import { type Page, type PageQuery, paginateById } from "./paginate.js";
import { normalizeInput, type StoredItem } from "./response-items.js";
import {
  outputMessage,
  paramsFromRequest,
  type ResponseParams,
  type ResponseState,
  statusForFinish,
  toResponseObject,
  toResponseUsage,
} from "./response-object.js";
import { streamResponseEvents } from "./response-stream.js";

export interface ResponsesServiceDeps {
  readonly store: ResponseStore;
  readonly router: Router;
  readonly clock: Clock;
}

/** A validated request, resolved to a backend and ready to run. */
export interface PreparedResponse {
  readonly projectId: string;
  readonly id: string;
  readonly createdAt: number;
  readonly store: boolean;
  readonly previousResponseId: string | null;
  readonly params: ResponseParams;
  readonly metadata: Record<string, string>;
  readonly inputItems: StoredItem[];
  readonly backend: Backend;
  readonly generateRequest: GenerateRequest;
  /** The model name as the client sent it, echoed on the Response. */
  readonly model: string;
}

export type ResponsesService = ReturnType<typeof createResponsesService>;

// A chain of previous_response_id links longer than this is almost surely a loop or abuse.
const MAX_CHAIN_LENGTH = 1000;

export function createResponsesService(deps: ResponsesServiceDeps) {
  const { store, router, clock } = deps;

  function loadConversation(projectId: string, previousResponseId: string): StoredItem[] {
    const turns: StoredItem[][] = [];
    let nextId: string | null = previousResponseId;
    while (nextId !== null) {
      const row = store.find(projectId, nextId);
      if (row === undefined) {
        throw new ApiError(400, `Previous response with id '${nextId}' not found.`, {
          param: "previous_response_id",
          code: "previous_response_not_found",
          headers: { "x-should-retry": "false" },
        });
      }
      turns.push([...(row.inputItems as StoredItem[]), ...(row.output as StoredItem[])]);
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

  function toState(prepared: PreparedResponse): ResponseState {
    return {
      id: prepared.id,
      createdAt: prepared.createdAt,
      completedAt: null,
      status: "in_progress",
      model: prepared.model,
      background: false,
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

  function finish(state: ResponseState, generation: Generation, messageId: string): ResponseState {
    const status = statusForFinish(generation.finishReason);
    return {
      ...state,
      status,
      completedAt: status === "completed" ? unixSeconds(clock) : null,
      output: [
        outputMessage(
          messageId,
          generation.text,
          status === "completed" ? "completed" : "incomplete",
        ),
      ],
      usage: toResponseUsage(generation.usage),
      incompleteDetails: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    };
  }

  function save(prepared: PreparedResponse, state: ResponseState): void {
    if (!prepared.store) {
      return;
    }
    store.insert({
      id: state.id,
      projectId: prepared.projectId,
      status: state.status,
      model: state.model,
      createdAt: state.createdAt,
      completedAt: state.completedAt,
      background: state.background,
      previousResponseId: state.previousResponseId,
      params: state.params as unknown as Record<string, unknown>,
      metadata: state.metadata,
      inputItems: prepared.inputItems,
      output: state.output,
      usage: state.usage as unknown as Record<string, unknown> | null,
      error: state.error,
      incompleteDetails: state.incompleteDetails,
    });
  }

  function findOrThrow(projectId: string, id: string): ResponseRow {
    const row = store.find(projectId, id);
    if (row === undefined) {
      throw ApiError.notFound(`Response with id '${id}' not found.`);
    }
    return row;
  }

  return {
    /** Validates what the schema cannot (model, previous turns) and resolves the backend. */
    prepare(projectId: string, request: CreateResponseRequest): PreparedResponse {
      if (request.background === true) {
        throw ApiError.invalid(
          "background",
          "Background mode is not available on this server yet.",
        );
      }
      if (request.conversation !== undefined && request.conversation !== null) {
        throw ApiError.invalid(
          "conversation",
          "Conversations are not supported by ferry; chain turns with previous_response_id instead.",
        );
      }
      if (request.input === undefined && !request.previous_response_id) {
        throw ApiError.invalid(
          "input",
          "Missing required parameter: 'input'.",
          "missing_required_parameter",
        );
      }
      const resolved = resolveModel(router, request.model);
      const params = paramsFromRequest(request);
      const previousResponseId = request.previous_response_id ?? null;
      const history =
        previousResponseId === null ? [] : loadConversation(projectId, previousResponseId);
      const inputItems = normalizeInput(request.input);
      const metadata = request.metadata ?? {};
      return {
        projectId,
        id: newId("response"),
        createdAt: unixSeconds(clock),
        store: request.store ?? true,
        previousResponseId,
        params,
        metadata,
        inputItems,
        backend: resolved.backend,
        model: request.model,
        generateRequest: {
          model: resolved.upstreamModel,
          messages: itemsToChatMessages(params.instructions, [...history, ...inputItems]),
          maxOutputTokens: params.max_output_tokens,
          temperature: request.temperature ?? null,
          topP: request.top_p ?? null,
          metadata,
        },
      };
    },

    /** Runs a prepared response to the end and stores it (unless `store: false`). */
    async complete(prepared: PreparedResponse, signal: AbortSignal): Promise<ResponseObject> {
      const generation = await prepared.backend.generate(prepared.generateRequest, signal);
      const state = finish(toState(prepared), generation, newId("message"));
      save(prepared, state);
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
      const generation = prepared.backend
        .streamGenerate(prepared.generateRequest, signal)
        [Symbol.asyncIterator]();
      const first = await generation.next();
      const messageId = newId("message");
      return streamResponseEvents({
        initial: toState(prepared),
        first,
        generation,
        messageId,
        signal,
        finish: (state, text, finishReason, usage) =>
          finish(state, { text, finishReason, usage }, messageId),
        fail: (state, err) => ({ ...state, status: "failed", error: responseErrorFor(err) }),
        onEnd: (state) => save(prepared, state),
      });
    },

    retrieve(projectId: string, id: string): ResponseObject {
      return toResponseObject(stateFromRow(findOrThrow(projectId, id)));
    },

    delete(projectId: string, id: string): { id: string; object: "response"; deleted: true } {
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

export function stateFromRow(row: ResponseRow): ResponseState {
  return {
    id: row.id,
    createdAt: row.createdAt,
    completedAt: row.completedAt,
    status: row.status as ResponseState["status"],
    model: row.model,
    background: row.background,
    store: true,
    previousResponseId: row.previousResponseId,
    params: row.params as unknown as ResponseParams,
    metadata: row.metadata,
    output: row.output,
    usage: row.usage as unknown as ResponseState["usage"],
    error: row.error,
    incompleteDetails: row.incompleteDetails as ResponseState["incompleteDetails"],
  };
}

/** The `error` of a failed Response: OpenAI's ResponseErrorCode and the backend's message. */
export function responseErrorFor(err: Error): { code: string; message: string } {
  if (err instanceof BackendError) {
    return {
      code: err.status === 429 ? "rate_limit_exceeded" : "server_error",
      message: err.message,
    };
  }
  return { code: "server_error", message: err.message };
}
