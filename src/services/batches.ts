import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import {
  type BatchEndpoint,
  type CreateBatchRequest,
  MAX_BATCH_LINES,
} from "../contract/batches-request.js";
import { ApiError } from "../lib/api-error.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import { newId } from "../lib/ids.js";
import { isJsonNestedDeeperThan } from "../lib/json-depth.js";
import type { BatchLineStore } from "../store/batch-lines.js";
import type { BatchStore } from "../store/batches.js";
import type { BatchRow } from "../store/schema.js";
import { type BatchObject, toBatchObject } from "./batch-object.js";
import type { BatchSupervisor } from "./batch-supervisor.js";
import type { FilesService } from "./files.js";
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
}

/** Query of a raw JSONL `POST /v1/batches`: what JSON bodies carry in fields. */
export interface JsonlBatchOptions {
  readonly model?: string | undefined;
  readonly endpoint?: BatchEndpoint | undefined;
  readonly completionWindow?: "24h" | "1h" | undefined;
  readonly metadata?: Record<string, string> | undefined;
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
    },
  ): BatchObject {
    const createdAt = unixSeconds(clock);
    const windowSeconds =
      deps.windowSecondsOverride ?? WINDOW_SECONDS[fields.completionWindow] ?? 86_400;
    const id = newId("batch");
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
    for await (const { text } of files.readLines(projectId, inputFileId)) {
      if (text.trim() !== "" && ++lines > MAX_BATCH_LINES) {
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
      });
    },

    /**
     * `POST /v1/batches` with a JSONL body (the native upload): streamed to an input file as it
     * arrives. OpenAI-style lines keep their url; content-only lines (`{"content": …}`) become
     * chat requests for `?model=`, as the seed SDK's parser does. Lines in neither form are kept
     * as they are, for validation to report with their line numbers.
     */
    async createFromJsonl(
      projectId: string,
      body: ReadableStream<Uint8Array> | null,
      options: JsonlBatchOptions,
    ): Promise<BatchObject> {
      if (body === null) {
        throw ApiError.invalid(null, "The request body is empty; send one JSON request per line.");
      }
      deps.queueCap.assertRoom(projectId, 1, { isReserving: false });
      let endpoint = options.endpoint;
      let lineNumber = 0;
      let sawContentLine = false;
      async function* content() {
        const reader = createInterface({
          input: Readable.fromWeb(body as import("node:stream/web").ReadableStream),
          crlfDelay: Number.POSITIVE_INFINITY,
        });
        for await (const text of reader) {
          lineNumber++;
          yield `${normalizeJsonlLine(text, lineNumber)}\n`;
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
      });
      if (endpoint === undefined) {
        await files.delete(projectId, file.id);
        throw ApiError.invalid(
          "endpoint",
          sawContentLine || lineNumber === 0
            ? "The JSONL body has no requests."
            : "No line names a supported 'url' (/v1/responses, /v1/chat/completions, /v1/embeddings); pass ?endpoint= or fix the lines.",
        );
      }
      await assertQueueRoom(projectId, file.id, true);
      return insertBatch(projectId, {
        inputFileId: file.id,
        endpoint,
        completionWindow: options.completionWindow ?? "24h",
        metadata: options.metadata ?? null,
        outputExpiresAfterSeconds: null,
      });
    },

    retrieve(projectId: string, id: string): BatchObject {
      return toBatchObject(findOrThrow(projectId, id));
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

    /** The native results view: every answered line so far, output and error lines alike. */
    results(projectId: string, id: string, baseUrl: string) {
      const row = findOrThrow(projectId, id);
      const results = [...resultLines(row)];
      return {
        batch_id: row.id,
        status: row.status,
        output_url: `${baseUrl}/v1/batches/${row.id}/results.jsonl`,
        completed_at: row.completedAt ?? row.cancelledAt ?? null,
        results,
      };
    },

    /** The same lines as JSONL, streamed from the database page by page. */
    resultsJsonl(projectId: string, id: string): AsyncIterable<string> {
      const row = findOrThrow(projectId, id);
      return (async function* () {
        for (const line of resultLines(row)) {
          yield `${JSON.stringify(line)}\n`;
        }
      })();
    },
  };

  function* resultLines(row: BatchRow): Generator<Record<string, unknown>> {
    for (const line of deps.lines.iterate(row.id)) {
      if (line.result !== null) {
        yield line.result;
      }
    }
  }
}

export type BatchesService = ReturnType<typeof createBatchesService>;

function isBatchEndpoint(url: string): url is BatchEndpoint {
  return url === "/v1/responses" || url === "/v1/chat/completions" || url === "/v1/embeddings";
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
