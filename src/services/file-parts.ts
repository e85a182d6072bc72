import type { Readable } from "node:stream";
import type { ContentPart, ModelMessage } from "../backends/model-contract.js";
import { ApiError } from "../lib/api-error.js";
import type { FileObject } from "./files.js";

/**
 * Turns the ferry `file_id`s in contract messages (images and documents the client uploaded to
 * /v1/files) into data URLs, so no backend needs ferry's file store: the model contract promises
 * a backend an image `url` it can use. Shared by the Responses and Chat surfaces; each says how
 * to name a file's place in its own request (`param`) for the 400s.
 */

export interface FileContentReader {
  openContent(projectId: string, id: string): Promise<{ file: FileObject; stream: Readable }>;
}

export interface ResolveFilePartsOptions {
  readonly projectId: string;
  readonly files: FileContentReader;
  /** Where the client put this file id (e.g. `input[2].content[0].file_id`), for the 400s. */
  readonly paramFor: (fileId: string) => string | null;
  readonly maxImageBytes?: number;
  readonly maxFileBytes?: number;
}

/** OpenAI's limit per image input. */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
/** OpenAI's limit per file input. */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;

// Files ferry writes itself, or that hold training/batch data, are not model input.
const NOT_INPUT_PURPOSES = new Set([
  "batch",
  "batch_output",
  "fine-tune",
  "fine-tune-results",
  "assistants_output",
]);

/**
 * `messages` with every image or file part that has a `fileId` but no content of its own
 * resolved to a data URL. The same array comes back when there is nothing to resolve. Throws a
 * 400 for an unknown file, a file that is not model input, or one over the size limits.
 */
export async function resolveFileParts(
  messages: readonly ModelMessage[],
  options: ResolveFilePartsOptions,
): Promise<readonly ModelMessage[]> {
  if (!messages.some((message) => message.content.some(needsResolving))) {
    return messages;
  }
  const resolved = new Map<string, Promise<{ dataUrl: string; filename: string }>>();
  const resolveOnce = (fileId: string, kind: "image" | "file") => {
    const key = `${kind}:${fileId}`;
    let pending = resolved.get(key);
    if (pending === undefined) {
      pending = readAsDataUrl(fileId, kind, options);
      resolved.set(key, pending);
    }
    return pending;
  };
  const out: ModelMessage[] = [];
  for (const message of messages) {
    if (!message.content.some(needsResolving)) {
      out.push(message);
      continue;
    }
    const content: ContentPart[] = [];
    for (const part of message.content) {
      if (!needsResolving(part)) {
        content.push(part);
      } else if (part.type === "image" && part.fileId !== undefined) {
        const { dataUrl } = await resolveOnce(part.fileId, "image");
        content.push({ ...part, url: dataUrl });
      } else if (part.type === "file" && part.fileId !== undefined) {
        const { dataUrl, filename } = await resolveOnce(part.fileId, "file");
        content.push({ ...part, data: dataUrl, filename: part.filename ?? filename });
      }
    }
    out.push({ ...message, content } as ModelMessage);
  }
  return out;
}

function needsResolving(part: ContentPart): boolean {
  return (
    (part.type === "image" && part.fileId !== undefined && part.url === "") ||
    (part.type === "file" &&
      part.fileId !== undefined &&
      part.data === undefined &&
      part.url === undefined)
  );
}

async function readAsDataUrl(
  fileId: string,
  kind: "image" | "file",
  options: ResolveFilePartsOptions,
): Promise<{ dataUrl: string; filename: string }> {
  const param = options.paramFor(fileId);
  let opened: { file: FileObject; stream: Readable };
  try {
    opened = await options.files.openContent(options.projectId, fileId);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      throw ApiError.invalid(param, `No file with id '${fileId}' was found.`, "invalid_value");
    }
    throw err;
  }
  const { file, stream } = opened;
  try {
    if (NOT_INPUT_PURPOSES.has(file.purpose)) {
      throw ApiError.invalid(
        param,
        `File '${fileId}' has purpose '${file.purpose}', which is not model input; upload ` +
          `${kind === "image" ? "images with purpose 'vision'" : "files with purpose 'user_data'"}.`,
        "invalid_value",
      );
    }
    const limit =
      kind === "image"
        ? (options.maxImageBytes ?? MAX_IMAGE_BYTES)
        : (options.maxFileBytes ?? MAX_FILE_BYTES);
    if (file.bytes > limit) {
      throw ApiError.invalid(
        param,
        `File '${fileId}' is ${file.bytes} bytes; an input ${kind} may be at most ${limit} bytes.`,
        "file_too_large",
      );
    }
    const bytes = await readAll(stream, limit, param);
    const mediaType = kind === "image" ? imageMediaType(bytes) : fileMediaType(bytes);
    if (mediaType === null) {
      throw ApiError.invalid(
        param,
        `File '${fileId}' is not an image ferry can pass on: send a PNG, JPEG, GIF or WebP.`,
        "invalid_image_format",
      );
    }
    return {
      dataUrl: `data:${mediaType};base64,${bytes.toString("base64")}`,
      filename: file.filename,
    };
  } finally {
    stream.destroy();
  }
}

async function readAll(stream: Readable, limit: number, param: string | null): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    total += buffer.length;
    if (total > limit) {
      // The row's size said otherwise; the bytes on disk are the truth.
      throw ApiError.invalid(param, `A file input is over the ${limit}-byte limit.`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** The image type by its magic bytes (a file's name or stated type may lie). */
export function imageMediaType(bytes: Buffer): string | null {
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47) {
    return "image/png";
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return "image/jpeg";
  }
  if (bytes.length >= 6 && bytes.subarray(0, 4).toString("latin1") === "GIF8") {
    return "image/gif";
  }
  if (
    bytes.length >= 12 &&
    bytes.subarray(0, 4).toString("latin1") === "RIFF" &&
    bytes.subarray(8, 12).toString("latin1") === "WEBP"
  ) {
    return "image/webp";
  }
  return null;
}

function fileMediaType(bytes: Buffer): string {
  return bytes.subarray(0, 5).toString("latin1") === "%PDF-" ? "application/pdf" : "text/plain";
}
