import {
  BATCH_ENDPOINTS,
  type BatchEndpoint,
  type CreateBatchRequest,
  MAX_BATCH_LINES,
} from "../contract/batches-request.js";
import { ApiError } from "../lib/api-error.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import { coerceError } from "../lib/coerce-error.js";
import { newId } from "../lib/ids.js";
import { isJsonNestedDeeperThan } from "../lib/json-depth.js";
import { splitLines } from "../lib/split-lines.js";
import type { BatchLineStore } from "../store/batch-lines.js";
import type { BatchStore } from "../store/batches.js";
import type { BatchRow } from "../store/schema.js";
import type { Callbacks, PendingCallback } from "../webhooks/callbacks.js";
import { type BatchObject, toBatchObject } from "./batch-object.js";
import { resultsJsonChunks, resultsJsonlChunks } from "./batch-results.js";
import type { BatchSupervisor } from "./batch-supervisor.js";
import { isEnded } from "./batch-supervisor.js";
import type { BatchInputLimits } from "./batch-validation.js";
import type { FilesService } from "./files.js";
import { type KeyedNotifier, waitUntil } from "./keyed-notifier.js";
import { type Page, toPage } from "./paginate.js";
import type { QueueCap } from "./queue-cap.js";

const WINDOW_SECONDS: Record<string, number> = { "24h": 24 * 3600, "1h": 3600 };

export interface BatchesServiceDeps {
  readonly batches: BatchStore;
  readonly lines: BatchLineStore;
  readonly files: FilesService;
  readonly supervisor: Pick<BatchSupervisor, "nudge">;
  readonly queueCap: QueueCap;
  readonly clock: Clock;
  /** Replaces the length of every completion window (tests and demos); null keeps OpenAI's. */
  readonly windowSecondsOverride: number | null;
  /** Bounds a JSONL body as a batch input file is bounded. */
  readonly inputLimits: BatchInputLimits;
  /** Woken by batch id after the commit that ends a batch (GET ?wait_ms=). */
  readonly batchWaits: KeyedNotifier;
  readonly transaction: (fn: () => void) => void;
  readonly callbacks: Pick<Callbacks, "check" | "save">;
}

/** The 413 for a JSONL body past the batch input limit, declared or counted. */
export function jsonlBodyTooLarge(maxBytes: number): ApiError {
  return ApiError.tooLarge(
    `A batch input may be at most ${maxBytes} bytes, and this JSONL body is larger; split the batch into several.`,
  );
}

/** Query of a raw JSONL `POST /v1/batches`: what JSON bodies carry in fields. */
export interface JsonlBatchOptions {
  readonly model?: string | undefined;
  readonly endpoint?: BatchEndpoint | undefined;
  readonly completionWindow?: "24h" | "1h" | undefined;
  readonly metadata?: Record<string, string> | undefined;
  /** `?callback_url=`: a JSONL body's callback takes no credentials (they do not belong in a URL). */
  readonly callbackUrl?: string | undefined;
}

export function createBatchesService(deps: BatchesServiceDeps) {
  const { batches, files, clock } = deps;

  function findFile(projectId: string, id: string) {
    try {
      return files.retrieve(projectId, id);
    } catch (thrown) {
      if (thrown instanceof ApiError && thrown.status === 404) {
        return null;
      }
      throw thrown;
    }
  }

  function findOrThrow(projectId: string, id: string): BatchRow {
    const row = batches.find(projectId, id);
    if (row === undefined) {
      throw ApiError.notFound(`No batch found with id '${id}'.`);
    }
    return row;
  }

  function insertBatch(
    projectId: string,
    fields: {
      inputFileId: string;
      endpoint: BatchEndpoint;
      completionWindow: string;
      metadata: Record<string, string> | null;
      outputExpiresAfterSeconds: number | null;
      callback: PendingCallback | null;
    },
  ): BatchObject {
    const createdAt = unixSeconds(clock);
    const windowSeconds =
      deps.windowSecondsOverride ?? WINDOW_SECONDS[fields.completionWindow] ?? 86_400;
    const id = newId("batch");
    const { callback } = fields;
    deps.transaction(() => {
      batches.insert({
        id,
        projectId,
        status: "validating",
        endpoint: fields.endpoint,
        inputFileId: fields.inputFileId,
        completionWindow: fields.completionWindow,
        metadata: fields.metadata,
        outputExpiresAfterSeconds: fields.outputExpiresAfterSeconds,
        createdAt,
        expiresAt: createdAt + windowSeconds,
      });
      if (callback !== null) {
        deps.callbacks.save({ projectId, subjectId: id, createdAt }, callback);
      }
    });
    deps.supervisor.nudge(id);
    return toBatchObject(findOrThrow(projectId, id));
  }

  /**
   * Refuses (429) a batch whose lines would take its project past the queue cap, before any line
   * is written. The file is read only when the project is within one largest batch of the cap;
   * otherwise the largest batch is what the cap counts until the lines are counted in the queue.
   */
  async function assertQueueRoom(projectId: string, inputFileId: string, isOwnFile: boolean) {
    if (deps.queueCap.isSurelyUnder(projectId, MAX_BATCH_LINES)) {
      deps.queueCap.assertRoom(projectId, MAX_BATCH_LINES);
      return;
    }
    let lines = 0;
    const { maxLineBytes } = deps.inputLimits;
    for await (const { text } of files.readLines(projectId, inputFileId, { maxLineBytes })) {
      // A line too long or not UTF-8 is still a line (validation fails it, with its number).
      if (text?.trim() !== "" && ++lines > MAX_BATCH_LINES) {
        break; // validation fails it whole anyway
      }
    }
    try {
      deps.queueCap.assertRoom(projectId, lines);
    } catch (thrown) {
      if (isOwnFile) {
        await files.delete(projectId, inputFileId);
      }
      throw thrown;
    }
  }

  /** Inline requests become an input file first, so every batch runs from a file. */
  async function writeInlineFile(
    projectId: string,
    request: CreateBatchRequest,
    endpoint: BatchEndpoint,
  ) {
    const requests = request.requests ?? [];
    async function* content() {
      for (const [index, inline] of requests.entries()) {
        const line = {
          custom_id: inline.custom_id ?? `request-${index + 1}`,
          method: inline.method ?? "POST",
          url: inline.url ?? endpoint,
          body: inline.body,
        };
        yield `${JSON.stringify(line)}\n`;
      }
    }
    return files.createFromStream(projectId, {
      filename: "inline-requests.jsonl",
      purpose: "batch",
      expiresAt: null,
      content: content(),
    });
  }

  return {
    /** `POST /v1/batches` with JSON: a file id (OpenAI) or inline requests (native). */
    async create(projectId: string, request: CreateBatchRequest): Promise<BatchObject> {
      const completionWindow = request.completion_window ?? request.window ?? "24h";
      // Before anything is written (the inline requests' file): a refused URL leaves nothing.
      const callback = await deps.callbacks.check(request);
      let endpoint = request.endpoint;
      let inputFileId: string;
      if (request.input_file_id === undefined) {
        endpoint ??= inferEndpoint(request.requests?.[0]?.body);
        deps.queueCap.assertRoom(projectId, request.requests?.length ?? 0);
        inputFileId = (await writeInlineFile(projectId, request, endpoint)).id;
      } else {
        inputFileId = request.input_file_id;
        const file = findFile(projectId, inputFileId);
        if (file === null) {
          throw ApiError.invalid("input_file_id", `No such File object: ${inputFileId}`);
        }
        if (file.purpose !== "batch") {
          throw ApiError.invalid(
            "input_file_id",
            `File ${inputFileId} has purpose '${file.purpose}'; a batch input file must be uploaded with purpose 'batch'.`,
          );
        }
        await assertQueueRoom(projectId, inputFileId, false);
      }
      if (endpoint === undefined) {
        throw ApiError.invalid(
          "endpoint",
          "Missing required parameter: 'endpoint'.",
          "missing_required_parameter",
        );
      }
      return insertBatch(projectId, {
        inputFileId,
        endpoint,
        completionWindow,
        metadata: request.metadata ?? null,
        outputExpiresAfterSeconds: request.output_expires_after?.seconds ?? null,
        callback,
      });
    },

    /**
     * `POST /v1/batches` with a JSONL body (the native upload): streamed to an input file as it
     * arrives. OpenAI-style lines keep their url; content-only lines (`{"content": …}`) become
     * chat requests for `?model=`, as the seed SDK's parser does. Lines in neither form are kept
     * as they are, for validation to report with their line numbers. A body over the batch
     * input limit is a 413; a line over the line limit, or not UTF-8, a 400 naming it; a body
     * that cannot be read to its end (the client went away), a 400. None leaves anything stored.
     */
    async createFromJsonl(
      projectId: string,
      body: ReadableStream<Uint8Array> | null,
      options: JsonlBatchOptions,
    ): Promise<BatchObject> {
      if (body === null) {
        throw ApiError.invalid(null, "The request body is empty; send one JSON request per line.");
      }
      const { maxInputBytes, maxLineBytes } = deps.inputLimits;
      deps.queueCap.assertRoom(projectId, 1, { isReserving: false });
      const callback = await deps.callbacks.check({ callback_url: options.callbackUrl });
      let endpoint = options.endpoint;
      let lineNumber = 0;
      let sawContentLine = false;
      // Read by hand rather than through a node stream: a failed read rejects here, in the
      // request's own promise chain, and can never surface as an uncaught stream error.
      async function* received(source: ReadableStream<Uint8Array>) {
        const reader = source.getReader();
        let bytes = 0;
        try {
          for (;;) {
            const next = await reader.read().catch((thrown: unknown) => {
              throw ApiError.invalid(
                null,
                `The JSONL body could not be read to its end (${coerceError(thrown).message}); send the whole body.`,
              );
            });
            if (next.done) {
              return;
            }
            bytes += next.value.byteLength;
            if (bytes > maxInputBytes) {
              throw jsonlBodyTooLarge(maxInputBytes);
            }
            yield next.value;
          }
        } finally {
          // Released, not cancelled: cancelling would reset the connection before the answer.
          reader.releaseLock();
        }
      }
      const lineTooLong = (line: number) =>
        ApiError.invalid(
          null,
          `Line ${line} of the JSONL body is longer than ${maxLineBytes} bytes, the most a batch line may have; send one request per line, each within the limit.`,
          "line_too_long",
        );
      let requestLines = 0;
      async function* content() {
        for await (const entry of splitLines(received(body as ReadableStream<Uint8Array>), {
          maxLineBytes,
        })) {
          lineNumber = entry.line;
          // Validation would fail the whole batch at line 50,001 anyway: say so now rather than
          // read (and parse) up to the body limit first.
          if (entry.text?.trim() !== "" && ++requestLines > MAX_BATCH_LINES) {
            throw ApiError.invalid(
              null,
              `The JSONL body has more than ${MAX_BATCH_LINES} requests (line ${entry.line}), the most a batch takes; split it into several batches.`,
              "too_many_tasks",
            );
          }
          if (entry.problem === "too_long") {
            throw lineTooLong(entry.line);
          }
          if (entry.problem !== undefined) {
            throw ApiError.invalid(
              null,
              `Line ${entry.line} of the JSONL body is not valid UTF-8; send JSONL encoded as UTF-8.`,
            );
          }
          const line = normalizeJsonlLine(entry.text, entry.line);
          // A content-only line grows into a whole request; validation reads it with the same bound.
          if (line.length > entry.text.length && Buffer.byteLength(line) > maxLineBytes) {
            throw lineTooLong(entry.line);
          }
          yield `${line}\n`;
        }
      }
      const normalizeJsonlLine = (text: string, line: number): string => {
        if (text.trim() === "") {
          return text;
        }
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          return text;
        }
        // Kept as they are, too: validation reports them with their line numbers (and a line
        // nested too deeply would overflow JSON.stringify below).
        if (
          typeof json !== "object" ||
          json === null ||
          Array.isArray(json) ||
          isJsonNestedDeeperThan(text)
        ) {
          return text;
        }
        const record = json as Record<string, unknown>;
        if ("url" in record && "body" in record) {
          if (
            endpoint === undefined &&
            typeof record.url === "string" &&
            isBatchEndpoint(record.url)
          ) {
            endpoint = record.url;
          }
          return JSON.stringify({ method: "POST", ...record });
        }
        if ("content" in record) {
          if (options.model === undefined) {
            throw ApiError.invalid(
              "model",
              'Content-only JSONL lines ({"content": …}) need the model as a query parameter: POST /v1/batches?model=<name>.',
            );
          }
          sawContentLine = true;
          endpoint ??= "/v1/chat/completions";
          return JSON.stringify({
            custom_id: typeof record.custom_id === "string" ? record.custom_id : `request-${line}`,
            method: "POST",
            url: "/v1/chat/completions",
            body: { model: options.model, messages: [{ role: "user", content: record.content }] },
          });
        }
        return text;
      };
      const file = await files.createFromStream(projectId, {
        filename: "upload.jsonl",
        purpose: "batch",
        expiresAt: null,
        content: content(),
        maxBytes: maxInputBytes,
      });
      if (endpoint === undefined) {
        await files.delete(projectId, file.id);
        throw ApiError.invalid(
          "endpoint",
          sawContentLine || lineNumber === 0
            ? "The JSONL body has no requests."
            : "No line names a supported 'url' (/v1/responses, /v1/chat/completions, /v1/completions, /v1/embeddings); pass ?endpoint= or fix the lines.",
        );
      }
      await assertQueueRoom(projectId, file.id, true);
      return insertBatch(projectId, {
        inputFileId: file.id,
        endpoint,
        completionWindow: options.completionWindow ?? "24h",
        metadata: options.metadata ?? null,
        outputExpiresAfterSeconds: null,
        callback,
      });
    },

    retrieve(projectId: string, id: string): BatchObject {
      return toBatchObject(findOrThrow(projectId, id));
    },

    /**
     * The batch once it has ended, or as it is after `waitMs`. In-process commits wake the wait
     * at once; another process's commit is seen within CROSS_PROCESS_RECHECK_MS.
     */
    retrieveWhenEnded(
      projectId: string,
      id: string,
      waitMs: number,
      signal: AbortSignal,
    ): Promise<BatchObject> {
      return waitUntil({
        notifier: deps.batchWaits,
        key: id,
        waitMs,
        signal,
        nowMs: () => clock.nowMs(),
        read: () => findOrThrow(projectId, id),
        isDone: (row) => isEnded(row.status),
      }).then(toBatchObject);
    },

    list(
      projectId: string,
      query: { after?: string | undefined; limit: number },
    ): Page<BatchObject> {
      const after =
        query.after === undefined ? null : (batches.find(projectId, query.after) ?? null);
      if (query.after !== undefined && after === null) {
        throw ApiError.invalid(
          "after",
          `No batch found with id '${query.after}'; 'after' must be the id of a batch.`,
        );
      }
      const rows = batches.list(projectId, after, query.limit + 1);
      return toPage(rows.slice(0, query.limit).map(toBatchObject), rows.length > query.limit);
    },

    cancel(projectId: string, id: string): BatchObject {
      const row = findOrThrow(projectId, id);
      if (!batches.requestCancel(id, unixSeconds(clock)) && row.status !== "cancelling") {
        throw new ApiError(409, `Cannot cancel a batch with status '${row.status}'.`, {
          headers: { "x-should-retry": "false" },
        });
      }
      deps.supervisor.nudge(id);
      return toBatchObject(findOrThrow(projectId, id));
    },

    /**
     * The native results view, every answered line so far (output and error lines alike), as
     * chunks of its JSON body streamed from the database. Throws the 404 at once.
     */
    resultsJson(projectId: string, id: string, baseUrl: string): AsyncIterable<string> {
      return resultsJsonChunks(deps.lines, findOrThrow(projectId, id), baseUrl);
    },

    /** The same lines as JSONL, streamed from the database page by page. Throws the 404 at once. */
    resultsJsonl(projectId: string, id: string): AsyncIterable<string> {
      return resultsJsonlChunks(deps.lines, findOrThrow(projectId, id));
    },
  };
}

export type BatchesService = ReturnType<typeof createBatchesService>;

function isBatchEndpoint(url: string): url is BatchEndpoint {
  return Object.hasOwn(BATCH_ENDPOINTS, url);
}

/** Inline requests without an endpoint: chat messages mean Chat Completions; anything else must say. */
function inferEndpoint(body: Record<string, unknown> | undefined): BatchEndpoint {
  if (body !== undefined && Array.isArray(body.messages)) {
    return "/v1/chat/completions";
  }
  throw ApiError.invalid(
    "endpoint",
    "Missing required parameter: 'endpoint' (it can only be left out when the requests are chat messages).",
    "missing_required_parameter",
  );
}
