import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import busboy from "busboy";
import { ApiError } from "../lib/api-error.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import { coerceError } from "../lib/coerce-error.js";
import { newId } from "../lib/ids.js";
import { type SplitLine, splitLines } from "../lib/split-lines.js";
import {
  BlobSourceError,
  type FileBlobStore,
  FileTooLargeError,
  type WrittenBlob,
} from "../store/file-blobs.js";
import type { FileCursor, FileStore } from "../store/files.js";
import type { FileRow } from "../store/schema.js";
import { type Page, type PageQuery, toPage } from "./paginate.js";

/** What a client may upload for. */
export const UPLOAD_PURPOSES = [
  "assistants",
  "batch",
  "fine-tune",
  "vision",
  "user_data",
  "evals",
] as const;
export type UploadPurpose = (typeof UPLOAD_PURPOSES)[number];

/** Every purpose a File can have: uploads plus what ferry itself writes (batch results). */
export const FILE_PURPOSES = [
  ...UPLOAD_PURPOSES,
  "assistants_output",
  "batch_output",
  "fine-tune-results",
] as const;
export type FilePurpose = (typeof FILE_PURPOSES)[number];

/** OpenAI's File object. `expires_at` is present only when the file expires. */
export interface FileObject {
  id: string;
  object: "file";
  bytes: number;
  created_at: number;
  expires_at?: number;
  filename: string;
  purpose: string;
  /** Deprecated by OpenAI but required by the spec; a stored file is always "processed". */
  status: "processed";
}

export interface DeletedFile {
  id: string;
  object: "file";
  deleted: true;
}

export interface FileLimits {
  /** Any upload (OpenAI: 512 MB). */
  readonly maxFileBytes: number;
  /** Uploads with purpose "batch" (OpenAI: 200 MB). */
  readonly maxBatchFileBytes: number;
}

const MB = 1024 * 1024;

export const DEFAULT_FILE_LIMITS: FileLimits = {
  maxFileBytes: 512 * MB,
  maxBatchFileBytes: 200 * MB,
};

/** OpenAI's default for purpose=batch; other files never expire unless `expires_after` says so. */
export const BATCH_FILE_TTL_SECONDS = 30 * 24 * 60 * 60;
const MIN_EXPIRES_AFTER_SECONDS = 3600;
const MAX_EXPIRES_AFTER_SECONDS = 2_592_000;

// A multipart body has a handful of short fields next to the file; anything beyond is abuse.
const MAX_FIELDS = 20;
const MAX_FIELD_BYTES = 64 * 1024;
const MAX_PARTS = 50;

export interface FilesServiceDeps {
  readonly store: FileStore;
  readonly blobs: FileBlobStore;
  readonly clock: Clock;
  /** Defaults to OpenAI's limits; tests lower them. */
  readonly limits?: Partial<FileLimits>;
}

export interface UploadRequest {
  /** The request's Content-Type header, boundary included. */
  readonly contentType: string | null;
  readonly body: ReadableStream<Uint8Array> | null;
  /** Fires when the client goes away; the upload then stops and leaves nothing behind. */
  readonly signal?: AbortSignal;
}

export interface GeneratedFile {
  readonly filename: string;
  readonly purpose: FilePurpose;
  /** Unix seconds, or null for never. */
  readonly expiresAt: number | null;
  readonly content: AsyncIterable<string | Uint8Array>;
  /** Refuses content past this many bytes with a 413 (a batch input); none by default. */
  readonly maxBytes?: number;
}

export interface FileListQuery extends PageQuery {
  readonly purpose?: string | undefined;
}

/** A line's text, or why it has none (longer than the limit, not UTF-8). */
export type FileLine = SplitLine;

export type FilesService = ReturnType<typeof createFilesService>;

/** A multipart body read to its end (or until it failed), with the file part on disk. */
interface ReceivedForm {
  readonly fields: ReadonlyMap<string, string>;
  /** The first thing wrong with the form's shape (a second file, a text 'file' field, ...). */
  readonly problem: ApiError | null;
  /** Why the body could not be read to its end, if it could not. */
  readonly bodyError: Error | null;
  readonly file: {
    readonly filename: string;
    /** Whether the batch limit applied while writing (purpose came before the file). */
    readonly isBatchLimit: boolean;
    /** The bytes in place, or null when writing them failed (`writeError`). */
    readonly written: WrittenBlob | null;
    readonly writeError: Error | null;
  } | null;
}

type WriteFile = (
  stream: NodeJS.ReadableStream,
  options: { isBatchLimit: boolean },
) => Promise<WrittenBlob>;

export function createFilesService(deps: FilesServiceDeps) {
  const { store, blobs, clock } = deps;
  const limits: FileLimits = { ...DEFAULT_FILE_LIMITS, ...deps.limits };

  function findOrThrow(projectId: string, id: string): FileRow {
    const row = store.find(projectId, id);
    if (row === undefined) {
      throw ApiError.notFound(`No such File object: ${id}`);
    }
    return row;
  }

  /** Inserts the row for bytes already in place; if that fails, the bytes go too. */
  async function insertOrRemove(row: FileRow): Promise<FileObject> {
    try {
      store.insert(row);
    } catch (thrown) {
      const err = coerceError(thrown);
      await blobs.remove(row.storagePath);
      throw err;
    }
    return toFileObject(row);
  }

  /**
   * Writes a generated file's bytes under `id` (no size limit unless `maxBytes` says so) and
   * returns the row that would record them; nothing is recorded yet.
   */
  async function writeGenerated(
    projectId: string,
    id: string,
    file: GeneratedFile,
  ): Promise<FileRow> {
    let written: WrittenBlob;
    try {
      written = await blobs.write(id, file.content, {
        maxBytes: file.maxBytes ?? Number.POSITIVE_INFINITY,
      });
    } catch (thrown) {
      const err = coerceError(thrown);
      if (err instanceof FileTooLargeError) {
        throw tooLarge(file.purpose === "batch", err.maxBytes);
      }
      // The generator's own error is what the caller wants to see.
      throw err instanceof BlobSourceError ? coerceError(err.cause) : err;
    }
    return {
      id,
      projectId,
      filename: file.filename,
      purpose: file.purpose,
      bytes: written.bytes,
      createdAt: unixSeconds(clock),
      expiresAt: file.expiresAt,
      storagePath: written.storagePath,
    };
  }
  return {
    /**
     * Streams a multipart/form-data upload to disk and records it. The fields may come before or
     * after the file part; the bytes stream to a temp file either way and are checked once the
     * body has been read. Any failure (a bad field, a size limit, a client gone) leaves neither a
     * row nor bytes behind.
     */
    async upload(projectId: string, request: UploadRequest): Promise<FileObject> {
      const id = newId("file");
      const form = await receiveForm(request, (stream, { isBatchLimit }) =>
        blobs.write(id, stream, {
          maxBytes: isBatchLimit ? limits.maxBatchFileBytes : limits.maxFileBytes,
        }),
      );
      const written = form.file?.written ?? null;
      let isCommitted = false;
      try {
        const upload = checkForm(form, limits);
        const createdAt = unixSeconds(clock);
        const ttlSeconds =
          upload.expiresAfterSeconds ??
          (upload.purpose === "batch" ? BATCH_FILE_TTL_SECONDS : null);
        const file = await insertOrRemove({
          id,
          projectId,
          filename: upload.filename,
          purpose: upload.purpose,
          bytes: upload.written.bytes,
          createdAt,
          expiresAt: ttlSeconds === null ? null : createdAt + ttlSeconds,
          storagePath: upload.written.storagePath,
        });
        isCommitted = true;
        return file;
      } finally {
        if (!isCommitted && written !== null) {
          await blobs.remove(written.storagePath);
        }
      }
    },

    /**
     * Stores a file ferry generates (batch output and error files, a JSONL body's input file),
     * written as `content` yields it, with the same atomic write as uploads. No size limit
     * applies unless `maxBytes` says so.
     */
    async createFromStream(projectId: string, file: GeneratedFile): Promise<FileObject> {
      return insertOrRemove(await writeGenerated(projectId, newId("file"), file));
    },

    /**
     * Writes a generated file's bytes under `id` without recording it: the caller records it
     * with `recordStaged` inside its own transaction, so the file exists for clients exactly
     * when that transaction commits. Writing the same id again replaces the bytes (a step
     * re-run after a crash). Until recorded, the bytes are the caller's to `discardStaged`.
     */
    stageGenerated(projectId: string, id: string, file: GeneratedFile): Promise<FileRow> {
      return writeGenerated(projectId, id, file);
    },

    /** Records a staged file (synchronous, to run inside the caller's transaction). */
    recordStaged(row: FileRow): void {
      store.insert(row);
    },

    /** Deletes a staged file's bytes, unless a row records them after all. */
    async discardStaged(row: FileRow): Promise<void> {
      if (store.find(row.projectId, row.id) === undefined) {
        await blobs.remove(row.storagePath);
      }
    },

    retrieve(projectId: string, id: string): FileObject {
      return toFileObject(findOrThrow(projectId, id));
    },

    /** One page of the project's files, newest first by default. `after` is a file id. */
    list(projectId: string, query: FileListQuery): Page<FileObject> {
      let after: FileCursor | undefined;
      if (query.after !== undefined) {
        const row = store.find(projectId, query.after);
        if (row === undefined) {
          throw ApiError.invalid(
            "after",
            `No file with id '${query.after}'; 'after' must be the id of a file in this list.`,
          );
        }
        after = { createdAt: row.createdAt, id: row.id };
      }
      const { rows, hasMore } = store.list(projectId, {
        purpose: query.purpose,
        after,
        limit: query.limit,
        order: query.order,
      });
      return toPage(rows.map(toFileObject), hasMore);
    },

    /**
     * Deletes the row, then the bytes: a crash in between leaves bytes without a row, never the
     * reverse. A deletion that could not commit (a full disk) throws before the bytes are touched.
     */
    async delete(projectId: string, id: string): Promise<DeletedFile> {
      const row = store.delete(projectId, id);
      if (row === undefined) {
        throw ApiError.notFound(`No such File object: ${id}`);
      }
      await blobs.remove(row.storagePath);
      return { id, object: "file", deleted: true };
    },

    /** The File and a stream of its bytes (never read whole). */
    async openContent(
      projectId: string,
      id: string,
    ): Promise<{ file: FileObject; stream: Readable }> {
      const row = findOrThrow(projectId, id);
      return { file: toFileObject(row), stream: await blobs.openRead(row.storagePath) };
    },

    /**
     * The file's lines as UTF-8 text, streamed: 1-based numbers, `\n` or `\r\n` endings removed,
     * blank lines included (a final newline does not make an extra empty line). A UTF-8 BOM
     * before the first line is dropped. A line longer than `maxLineBytes` or not UTF-8 comes
     * with its problem instead of its text, and is never held whole. Throws the 404 at once,
     * before iteration.
     */
    readLines(
      projectId: string,
      id: string,
      options: { readonly maxLineBytes: number },
    ): AsyncIterable<FileLine> {
      const row = findOrThrow(projectId, id);
      return (async function* () {
        const input = await blobs.openRead(row.storagePath);
        try {
          yield* splitLines(input, options);
        } finally {
          input.destroy();
        }
      })();
    },
  };
}

export function toFileObject(row: FileRow): FileObject {
  return {
    id: row.id,
    object: "file",
    bytes: row.bytes,
    created_at: row.createdAt,
    ...(row.expiresAt === null ? {} : { expires_at: row.expiresAt }),
    filename: row.filename,
    purpose: row.purpose,
    status: "processed",
  };
}

/**
 * Reads a multipart/form-data body with busboy, handing the `file` part to `writeFile` as it
 * streams in. Problems with the form's shape are noted, the rest of the body still read, so the
 * client gets an answer rather than a reset connection; a failed write (a size limit, the disk)
 * stops reading at once. Resolves when the body has ended and the write has settled.
 */
async function receiveForm(request: UploadRequest, writeFile: WriteFile): Promise<ReceivedForm> {
  const { contentType, body } = request;
  if (contentType === null || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) {
    throw ApiError.invalid(
      null,
      "Files must be uploaded as multipart/form-data with a 'file' part and a 'purpose' " +
        `field; got content type '${contentType ?? "none"}'.`,
    );
  }
  if (body === null) {
    throw ApiError.invalid("file", "Missing required parameter: 'file'.");
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { "content-type": contentType },
      // File names in Content-Disposition are UTF-8 in practice (browsers, undici, the SDKs).
      defParamCharset: "utf8",
      limits: { fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, parts: MAX_PARTS },
    });
  } catch (thrown) {
    throw unreadableBody(coerceError(thrown));
  }

  const fields = new Map<string, string>();
  let problem: ApiError | null = null;
  let filePartCount = 0;
  let pending: { filename: string; isBatchLimit: boolean; write: Promise<unknown> } | null = null;
  let writtenStream: Readable | null = null;
  let written: WrittenBlob | null = null;
  let writeError: Error | null = null;
  const stop = new AbortController();

  parser.on("field", (name, value, info) => {
    if (name === "file") {
      problem ??= ApiError.invalid(
        "file",
        "The 'file' field must be a file part with a filename " +
          '(Content-Disposition: form-data; name="file"; filename="...").',
      );
    } else if (info.valueTruncated) {
      problem ??= ApiError.invalid(name, `The value of '${name}' is too long.`);
    } else {
      fields.set(name, value);
    }
  });
  parser.on("file", (name, stream, info) => {
    // A body that ends inside this part makes busboy emit 'error' on the part's stream too (the
    // parser's own error reaches the pipeline below). Unheard, that would crash the process:
    // for a part that is skipped, or one whose write already stopped (too large).
    stream.on("error", () => {});
    filePartCount += 1;
    problem ??= checkFilePart(name, info.filename, filePartCount, fields.get("purpose"));
    const filename = info.filename;
    if (problem !== null || filename === undefined) {
      stream.resume();
      return;
    }
    // The batch limit applies at once if purpose came first; otherwise checkForm applies it.
    const isBatchLimit = fields.get("purpose") === "batch";
    writtenStream = stream;
    const write = writeFile(stream, { isBatchLimit }).then(
      (blob) => {
        written = blob;
      },
      (thrown: unknown) => {
        writeError = coerceError(thrown);
        stop.abort();
      },
    );
    pending = { filename, isBatchLimit, write };
  });
  const tooMany = () => {
    problem ??= ApiError.invalid(
      null,
      "Too many form fields; send 'file', 'purpose' and optionally 'expires_after'.",
    );
  };
  parser.on("fieldsLimit", tooMany);
  parser.on("partsLimit", tooMany);

  let bodyError: Error | null = null;
  try {
    const signal =
      request.signal === undefined ? stop.signal : AbortSignal.any([stop.signal, request.signal]);
    await pipeline(Readable.fromWeb(body as WebReadableStream<Uint8Array>), parser, { signal });
  } catch (thrown) {
    bodyError = coerceError(thrown);
    // busboy can still hand out a part after its own error (a malformed header before it), and
    // once the pipeline has stopped, that part never ends: end its write, or it waits forever
    // (the request hangs, the temp file stays open).
    (writtenStream as Readable | null)?.destroy(bodyError);
  }
  // TypeScript cannot see the assignments made in the callbacks.
  const part = pending as {
    filename: string;
    isBatchLimit: boolean;
    write: Promise<unknown>;
  } | null;
  await part?.write;
  return {
    fields,
    problem,
    bodyError,
    file:
      part === null
        ? null
        : {
            filename: part.filename,
            isBatchLimit: part.isBatchLimit,
            written: written as WrittenBlob | null,
            writeError: writeError as Error | null,
          },
  };
}

/**
 * Everything that can be wrong with a received upload, most fundamental first: the write, the
 * body, the form's shape, its fields, then the file itself.
 */
function checkForm(
  form: ReceivedForm,
  limits: FileLimits,
): {
  purpose: UploadPurpose;
  expiresAfterSeconds: number | null;
  filename: string;
  written: WrittenBlob;
} {
  const writeError = form.file?.writeError ?? null;
  if (writeError instanceof FileTooLargeError) {
    throw tooLarge(form.file?.isBatchLimit === true, writeError.maxBytes);
  }
  if (writeError !== null && !(writeError instanceof BlobSourceError)) {
    throw writeError; // the disk failed: a server error
  }
  const bodyError = form.bodyError ?? writeError;
  if (bodyError !== null) {
    throw unreadableBody(bodyError);
  }
  if (form.problem !== null) {
    throw form.problem;
  }
  const fields = parseUploadFields(form.fields);
  const written = form.file?.written ?? null;
  if (form.file === null || written === null) {
    throw ApiError.invalid(
      "file",
      "Missing required parameter: 'file'.",
      "missing_required_parameter",
    );
  }
  if (written.bytes === 0) {
    throw ApiError.invalid("file", "File is empty; upload a file with content.");
  }
  if (fields.purpose === "batch") {
    const reason = checkBatchFilename(form.file.filename);
    if (reason !== null) {
      throw reason;
    }
    if (written.bytes > limits.maxBatchFileBytes) {
      throw tooLarge(true, limits.maxBatchFileBytes);
    }
  }
  return { ...fields, filename: form.file.filename, written };
}

/** A problem with a file part that is known as soon as its headers arrive; null if none. */
function checkFilePart(
  name: string,
  filename: string | undefined,
  filePartCount: number,
  purpose: string | undefined,
): ApiError | null {
  if (name !== "file") {
    return ApiError.invalid(
      name,
      `Unexpected file part '${name}'; send the file in the 'file' field.`,
    );
  }
  if (filePartCount > 1) {
    return ApiError.invalid("file", "Upload exactly one file per request; got more than one.");
  }
  if (filename === undefined || filename === "") {
    return ApiError.invalid("file", "The 'file' part must have a filename.");
  }
  return purpose === "batch" ? checkBatchFilename(filename) : null;
}

function checkBatchFilename(filename: string): ApiError | null {
  if (filename.toLowerCase().endsWith(".jsonl")) {
    return null;
  }
  return ApiError.invalid(
    "file",
    `Invalid file format for Batch API. Must be .jsonl; got '${filename}'.`,
  );
}

/** Validates the form's text fields; the SDKs flatten `expires_after` into two of them. */
function parseUploadFields(fields: ReadonlyMap<string, string>): {
  purpose: UploadPurpose;
  expiresAfterSeconds: number | null;
} {
  for (const name of fields.keys()) {
    if (
      name !== "purpose" &&
      name !== "expires_after[anchor]" &&
      name !== "expires_after[seconds]"
    ) {
      throw ApiError.invalid(name, `Unknown parameter: '${name}'.`, "unknown_parameter");
    }
  }
  const purpose = fields.get("purpose");
  if (purpose === undefined || purpose === "") {
    throw ApiError.invalid(
      "purpose",
      "Missing required parameter: 'purpose'.",
      "missing_required_parameter",
    );
  }
  if (!isUploadPurpose(purpose)) {
    const allowed = UPLOAD_PURPOSES.map((value) => `'${value}'`).join(", ");
    throw ApiError.invalid(
      "purpose",
      `Invalid value for 'purpose': '${purpose}'. Supported values are: ${allowed}.`,
      "invalid_value",
    );
  }
  const anchor = fields.get("expires_after[anchor]");
  const seconds = fields.get("expires_after[seconds]");
  if (anchor === undefined && seconds === undefined) {
    return { purpose, expiresAfterSeconds: null };
  }
  if (anchor === undefined) {
    throw ApiError.invalid(
      "expires_after.anchor",
      "Missing required parameter: 'expires_after.anchor'.",
      "missing_required_parameter",
    );
  }
  if (anchor !== "created_at") {
    throw ApiError.invalid(
      "expires_after.anchor",
      `Invalid value for 'expires_after.anchor': '${anchor}'. Supported values are: 'created_at'.`,
      "invalid_value",
    );
  }
  if (seconds === undefined) {
    throw ApiError.invalid(
      "expires_after.seconds",
      "Missing required parameter: 'expires_after.seconds'.",
      "missing_required_parameter",
    );
  }
  const value = /^\d+$/.test(seconds) ? Number(seconds) : Number.NaN;
  if (!(value >= MIN_EXPIRES_AFTER_SECONDS && value <= MAX_EXPIRES_AFTER_SECONDS)) {
    throw ApiError.invalid(
      "expires_after.seconds",
      `Invalid 'expires_after.seconds': expected an integer between ${MIN_EXPIRES_AFTER_SECONDS} ` +
        `(1 hour) and ${MAX_EXPIRES_AFTER_SECONDS} (30 days); got '${seconds}'.`,
    );
  }
  return { purpose, expiresAfterSeconds: value };
}

function isUploadPurpose(value: string): value is UploadPurpose {
  return (UPLOAD_PURPOSES as readonly string[]).includes(value);
}

function tooLarge(isBatchLimit: boolean, maxBytes: number): ApiError {
  return ApiError.tooLarge(
    isBatchLimit
      ? `Batch input files can be at most ${formatBytes(maxBytes)}; split the batch into several files.`
      : `File is too large: the limit is ${formatBytes(maxBytes)}.`,
  );
}

function unreadableBody(err: Error): ApiError {
  return ApiError.invalid(
    null,
    `Could not read the multipart/form-data body (${err.message}). Send a complete ` +
      "multipart/form-data body with a 'file' part and a 'purpose' field.",
  );
}

function formatBytes(bytes: number): string {
  return bytes % MB === 0 ? `${bytes / MB} MB` : `${bytes} bytes`;
}
