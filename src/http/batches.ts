import { type Context, Hono, type MiddlewareHandler } from "hono";
import { stream } from "hono/streaming";
import { z } from "zod";
import {
  BatchEndpointSchema,
  CompletionWindowSchema,
  CreateBatchRequestSchema,
} from "../contract/batches-request.js";
import type { Logger } from "../lib/logger.js";
import { type BatchesService, jsonlBodyTooLarge } from "../services/batches.js";
import type { AppEnv } from "./app-env.js";
import { limitBody } from "./body-limit.js";
import { readJsonBody, readQuery } from "./json-body.js";
import type { LongPollLimiter } from "./long-poll-limit.js";
import { listQuerySchema } from "./pagination.js";
import { whileReadingBody } from "./streamed-body.js";
import { answerAfterWait, WaitMsSchema } from "./wait-for-object.js";

const ListQuerySchema = listQuerySchema({ maxLimit: 100, defaultLimit: 20, defaultOrder: "desc" });

const JsonlQuerySchema = z.looseObject({
  model: z.string().min(1).optional(),
  endpoint: BatchEndpointSchema.optional(),
  completion_window: CompletionWindowSchema.optional(),
  window: CompletionWindowSchema.optional(),
  callback_url: z.string().min(1).max(2048).optional(),
});

const RetrieveQuerySchema = z.looseObject({ wait_ms: WaitMsSchema });

const ENDED_BATCH_STATUSES = new Set(["completed", "failed", "expired", "cancelled"]);

const JSONL_TYPES = [
  "application/x-ndjson",
  "application/jsonl",
  "application/x-jsonlines",
  "application/jsonlines",
];

function contentTypeOf(header: string | undefined): string {
  return (header ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/**
 * A JSONL body streams to a file, bounded by the batch input limit: a declared content-length
 * past it is refused here, before any of it is read, and the service counts the bytes as they
 * arrive. A JSON body is parsed in memory, so it gets the same limit as every other JSON route.
 * (limitBody, not hono's bodyLimit: that one opens the body stream even when content-length
 * decides, and a body stream opened but never read, as when the body is refused for its content
 * type, stalls the connection.)
 */
function limitBatchBodies(limits: {
  maxJsonBodyBytes: number;
  maxJsonlBodyBytes: number;
}): MiddlewareHandler<AppEnv> {
  const limitJson = limitBody(
    limits.maxJsonBodyBytes,
    `The request body is larger than the limit of ${limits.maxJsonBodyBytes} bytes; send large batches as a file or a JSONL body.`,
  );
  return async function batchBodyLimit(c, next) {
    if (JSONL_TYPES.includes(contentTypeOf(c.req.header("content-type")))) {
      const declaredBytes = Number.parseInt(c.req.header("content-length") ?? "", 10);
      if (declaredBytes > limits.maxJsonlBodyBytes) {
        throw jsonlBodyTooLarge(limits.maxJsonlBodyBytes);
      }
      await next();
      return;
    }
    return limitJson(c, next);
  };
}

export function batchesRoutes(deps: {
  batches: BatchesService;
  maxJsonBodyBytes: number;
  maxJsonlBodyBytes: number;
  logger: Logger;
  /** Caps the long-polls (wait_ms) each key holds open; omitted, no cap. */
  longPolls?: LongPollLimiter;
}) {
  const { batches, longPolls } = deps;
  return new Hono<AppEnv>()
    .post("/", limitBatchBodies(deps), async (c) => {
      const contentType = contentTypeOf(c.req.header("content-type"));
      if (JSONL_TYPES.includes(contentType)) {
        const query = readQuery(c, JsonlQuerySchema);
        return whileReadingBody(c, deps.logger, "JSONL body", async () =>
          c.json(
            await batches.createFromJsonl(c.get("projectId"), c.req.raw.body, {
              model: query.model,
              endpoint: query.endpoint,
              completionWindow: query.completion_window ?? query.window,
              callbackUrl: query.callback_url,
            }),
          ),
        );
      }
      const request = await readJsonBody(c, CreateBatchRequestSchema);
      return c.json(await batches.create(c.get("projectId"), request));
    })
    .get("/", (c) => {
      const query = readQuery(c, ListQuerySchema);
      return c.json(batches.list(c.get("projectId"), query));
    })
    .get("/:id", async (c) => {
      const query = readQuery(c, RetrieveQuerySchema);
      const projectId = c.get("projectId");
      const id = c.req.param("id");
      // A batch that has ended answers at once; only a running one takes a slot.
      const current = batches.retrieve(projectId, id);
      return c.json(
        await answerAfterWait(
          c,
          longPolls,
          ENDED_BATCH_STATUSES.has(current.status) ? 0 : query.wait_ms,
          () => current,
          (signal) => batches.retrieveWhenEnded(projectId, id, query.wait_ms, signal),
        ),
      );
    })
    .post("/:id/cancel", (c) => c.json(batches.cancel(c.get("projectId"), c.req.param("id"))))
    .get("/:id/results", (c) => {
      const origin = new URL(c.req.url).origin;
      const chunks = batches.resultsJson(c.get("projectId"), c.req.param("id"), origin);
      c.header("content-type", "application/json");
      return streamChunks(c, chunks);
    })
    .get("/:id/results.jsonl", (c) => {
      const chunks = batches.resultsJsonl(c.get("projectId"), c.req.param("id"));
      c.header("content-type", "application/jsonl");
      return streamChunks(c, chunks);
    });
}

/** Writes the chunks as they come, waiting for the client; stops reading if it goes away. */
function streamChunks(c: Context<AppEnv>, chunks: AsyncIterable<string>): Response {
  return stream(c, async (out) => {
    for await (const chunk of chunks) {
      if (out.aborted) {
        return;
      }
      await out.write(chunk);
    }
  });
}
