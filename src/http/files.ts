import { Readable } from "node:stream";
import { Hono } from "hono";
import { z } from "zod";
import type { Logger } from "../lib/logger.js";
import { FILE_PURPOSES, type FilesService } from "../services/files.js";
import type { AppEnv } from "./app-env.js";
import { readQuery } from "./json-body.js";
import { listQuerySchema } from "./pagination.js";
import { whileReadingBody } from "./streamed-body.js";

const ListFilesQuerySchema = listQuerySchema({
  maxLimit: 10_000,
  defaultLimit: 10_000,
  defaultOrder: "desc",
}).extend({ purpose: z.enum(FILE_PURPOSES).optional() });

/** Mounted before the JSON body limit: uploads are limited by the files service (512 MB). */
export function filesRoutes(deps: { files: FilesService; logger: Logger }) {
  const { files } = deps;
  return new Hono<AppEnv>()
    .post("/", (c) =>
      whileReadingBody(c, deps.logger, "upload", async () =>
        c.json(
          await files.upload(c.get("projectId"), {
            contentType: c.req.header("content-type") ?? null,
            body: c.req.raw.body,
            signal: c.req.raw.signal,
          }),
        ),
      ),
    )
    .get("/", (c) => {
      const { purpose, limit, order, after } = readQuery(c, ListFilesQuerySchema);
      return c.json(files.list(c.get("projectId"), { purpose, limit, order, after }));
    })
    .get("/:id", (c) => c.json(files.retrieve(c.get("projectId"), c.req.param("id"))))
    .delete("/:id", async (c) => c.json(await files.delete(c.get("projectId"), c.req.param("id"))))
    .get("/:id/content", async (c) => {
      const { file, stream } = await files.openContent(c.get("projectId"), c.req.param("id"));
      // Raw bytes, never re-encoded: the SDKs return this response as is (`.text()`, `.content`).
      return c.body(Readable.toWeb(stream) as ReadableStream<Uint8Array>, 200, {
        "content-type": "application/octet-stream",
        "content-length": String(file.bytes),
        "content-disposition": contentDisposition(file.filename),
      });
    });
}

/**
 * `attachment` with the name twice (RFC 6266): an ASCII fallback with quotes, backslashes and
 * control characters replaced, and the exact name percent-encoded in `filename*`.
 */
export function contentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const encoded = encodeURIComponent(filename).replace(
    /['()*]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
