import type { Router } from "../backends/router.js";
import {
  BATCH_ENDPOINTS,
  type BatchEndpoint,
  BatchInputLineSchema,
  MAX_BATCH_LINES,
} from "../contract/batches-request.js";
import { ApiError, apiErrorFromZod } from "../lib/api-error.js";
import { isJsonNestedDeeperThan, MAX_JSON_DEPTH } from "../lib/json-depth.js";
import type { BatchLineStore, NewBatchLine } from "../store/batch-lines.js";
import type { BatchErrorEntry } from "../store/batches.js";
import type { BatchRow } from "../store/schema.js";
import { BATCH_LINE_LANE, type BatchLinePayload } from "./batch-line-handler.js";
import type { FilesService } from "./files.js";
import { dispatchRankOf } from "./prompt-prefix.js";

/** Validation errors kept on a failed batch; past this many, one more entry says how many were left out. */
const MAX_REPORTED_ERRORS = 100;
/** Lines inserted per transaction while reading the file. */
const CHUNK_LINES = 1000;

export type ValidationResult =
  | { readonly ok: true; readonly total: number; readonly model: string | null }
  | { readonly ok: false; readonly errors: BatchErrorEntry[] };

/** The bounds of a batch input (config `batches.max_input_bytes`, `batches.max_line_bytes`). */
export interface BatchInputLimits {
  readonly maxInputBytes: number;
  readonly maxLineBytes: number;
}

/**
 * Reads a batch's input file line by line, as OpenAI validates it, and inserts each valid line as
 * a held work item in chunked transactions (memory stays flat however large the file). Checks:
 * UTF-8 JSON within the line limit, custom_id (present, unique in the batch), method POST, url
 * equal to the batch endpoint, a body the endpoint accepts, one model for the whole file, at
 * most 50,000 lines and the input limit. All or nothing: with any error, the caller deletes the
 * held lines and fails the batch.
 */
export async function validateBatchInput(
  deps: {
    files: FilesService;
    lines: BatchLineStore;
    router: Router;
    nowMs: () => number;
    limits: BatchInputLimits;
    /** Rank lines by prompt prefix (config `batches.prefix_scheduling`); false: input order. */
    prefixScheduling: boolean;
  },
  batch: BatchRow,
): Promise<ValidationResult> {
  const { maxInputBytes, maxLineBytes } = deps.limits;
  const errors: BatchErrorEntry[] = [];
  let omitted = 0;
  const report = (
    code: string,
    message: string,
    line: number | null,
    param: string | null = null,
  ) => {
    if (errors.length < MAX_REPORTED_ERRORS) {
      errors.push({ code, message, param, line });
    } else {
      omitted++;
    }
  };
  const endpoint = batch.endpoint as BatchEndpoint;
  const schema = BATCH_ENDPOINTS[endpoint];

  let file: ReturnType<FilesService["retrieve"]>;
  try {
    file = deps.files.retrieve(batch.projectId, batch.inputFileId);
  } catch (thrown) {
    if (thrown instanceof ApiError && thrown.status === 404) {
      return {
        ok: false,
        errors: [
          {
            code: "invalid_file",
            message: `The input file ${batch.inputFileId} no longer exists.`,
            param: "input_file_id",
            line: null,
          },
        ],
      };
    }
    throw thrown;
  }
  if (file.bytes > maxInputBytes) {
    return {
      ok: false,
      errors: [
        {
          code: "file_too_large",
          message: `The input file is ${file.bytes} bytes; a batch takes at most ${maxInputBytes}.`,
          param: "input_file_id",
          line: null,
        },
      ],
    };
  }

  let model: string | null = null;
  let backend: string | null = null;
  let count = 0;
  let chunk: NewBatchLine[] = [];
  const flush = () => {
    if (chunk.length === 0 || backend === null || errors.length > 0) {
      chunk = [];
      return;
    }
    const { duplicates } = deps.lines.insertHeld(
      {
        id: batch.id,
        projectId: batch.projectId,
        backend,
        lane: BATCH_LINE_LANE,
        nowMs: deps.nowMs(),
      },
      chunk,
    );
    for (const duplicate of duplicates) {
      report(
        "duplicate_custom_id",
        `The custom_id '${duplicate.customId}' is used by an earlier line; custom_id values must be unique within a batch.`,
        duplicate.line,
        "custom_id",
      );
    }
    chunk = [];
  };

  const input = deps.files.readLines(batch.projectId, batch.inputFileId, { maxLineBytes });
  for await (const entry of input) {
    const { line } = entry;
    if (entry.problem === undefined && entry.text.trim() === "") {
      continue;
    }
    count++;
    if (count > MAX_BATCH_LINES) {
      report(
        "too_many_tasks",
        `A batch takes at most ${MAX_BATCH_LINES} requests; this file has more.`,
        line,
      );
      break;
    }
    if (entry.problem === "too_long") {
      report(
        "line_too_long",
        `This line is longer than ${maxLineBytes} bytes, the most a batch line may have; send large inputs as separate, smaller requests.`,
        line,
      );
      continue;
    }
    if (entry.problem !== undefined) {
      report(
        "invalid_json_line",
        "This line is not valid UTF-8; JSON lines must be encoded as UTF-8.",
        line,
      );
      continue;
    }
    const { text } = entry;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      report("invalid_json_line", "This line is not parseable as valid JSON.", line);
      continue;
    }
    // Stored lines are re-serialised, and JSON.stringify overflows the stack on deep nesting.
    if (isJsonNestedDeeperThan(text)) {
      report(
        "invalid_json_line",
        `This line nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep.`,
        line,
      );
      continue;
    }
    const envelope = BatchInputLineSchema.safeParse(json);
    if (!envelope.success) {
      const issue = apiErrorFromZod(envelope.error);
      report("invalid_request", issue.message, line, issue.options.param ?? null);
      continue;
    }
    const { custom_id: customId, method, url, body } = envelope.data;
    if (method !== "POST") {
      report("invalid_method", `The method must be POST; got '${method}'.`, line, "method");
      continue;
    }
    if (url !== endpoint) {
      report(
        "url_mismatch",
        `The URL provided for this request ('${url}') does not match the batch endpoint ('${endpoint}').`,
        line,
        "url",
      );
      continue;
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issue = apiErrorFromZod(parsed.error, ["body"]);
      report("invalid_request", issue.message, line, issue.options.param ?? null);
      continue;
    }
    const lineModel = String(body.model);
    if (model === null) {
      model = lineModel;
      const resolved = deps.router.resolve(lineModel);
      if (resolved === null) {
        report(
          "model_not_found",
          `The model '${lineModel}' does not exist or you do not have access to it.`,
          line,
          "body.model",
        );
        continue;
      }
      backend = resolved.backend.name;
    } else if (lineModel !== model) {
      report(
        "model_mismatch",
        `Every request in a batch must use the same model: this line uses '${lineModel}', earlier lines '${model}'.`,
        line,
        "body.model",
      );
      continue;
    }
    // The schema's output, not the raw body: the line handler runs it as is, with no second parse.
    const payload: BatchLinePayload = {
      customId,
      endpoint,
      body: parsed.data as Record<string, unknown>,
    };
    // Ranked line by line, as it is read: the rank depends on the line alone (a hash of its
    // prompt prefix), so the file is never held whole to be sorted, and the same prompts rank
    // the same in every batch.
    const dispatchRank = deps.prefixScheduling ? dispatchRankOf(endpoint, payload.body) : 0;
    chunk.push({
      line,
      customId,
      payload: payload as unknown as Record<string, unknown>,
      dispatchRank,
    });
    if (chunk.length >= CHUNK_LINES) {
      flush();
    }
  }
  flush();

  if (count === 0 && errors.length === 0) {
    report("empty_file", "The input file has no requests.", null);
  }
  if (omitted > 0) {
    errors.push({
      code: "too_many_errors",
      message: `${omitted} more errors were found and not listed.`,
      param: null,
      line: null,
    });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, total: count, model };
}
