import { type Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ApiError } from "../../lib/api-error.js";
import type { QueuedEndpoint } from "../../services/endpoint-requests.js";
import type { FutureState, FuturesService } from "../../services/futures.js";
import type { AppEnv } from "../app-env.js";

/**
 * The OctoAI dialect: `X-OctoAI-Async: 1` on an inference POST queues the request as a future
 * and answers at once with `{response_id, poll_url}`; `poll_url` tells its status and, once it
 * ended, `response_url`, which answers what the synchronous request would have answered.
 */

const ASYNC_HEADER = "x-octoai-async";

/**
 * Whether the request asks for a future. The OctoAI client sends the header empty on every
 * synchronous call, so empty is the same as absent; anything but "1" is a mistake to report.
 */
function isFutureRequested(c: Context<AppEnv>): boolean {
  const value = c.req.header(ASYNC_HEADER)?.trim() ?? "";
  if (value === "" || value === "0") {
    return false;
  }
  if (value !== "1") {
    throw ApiError.invalid(
      null,
      `The X-OctoAI-Async header must be "1" (queue the request and answer with a future) or left out; got '${value}'.`,
      "invalid_header",
    );
  }
  return true;
}

/**
 * For an inference POST handler, after its body is parsed: null when no future was asked for
 * (the handler answers synchronously); otherwise the request is checked and queued, and the
 * answer is 202 Accepted with the future (the OctoAI clients accept any status below 400).
 */
export async function answerAsFuture(
  c: Context<AppEnv>,
  futures: FuturesService,
  endpoint: QueuedEndpoint,
  request: object,
): Promise<Response | null> {
  if (!isFutureRequested(c)) {
    return null;
  }
  const { stream, background } = request as { stream?: unknown; background?: unknown };
  if (stream === true) {
    throw ApiError.invalid(
      "stream",
      "A future's result is one JSON body: with X-OctoAI-Async: 1, leave stream out or set it to false.",
    );
  }
  if (background === true) {
    throw ApiError.invalid(
      "background",
      "With X-OctoAI-Async: 1 the request already runs in the background as a future: leave background out or set it to false.",
    );
  }
  const future = await futures.submit(
    c.get("projectId"),
    endpoint,
    request as Record<string, unknown>,
  );
  return c.json(futureObject(c, future), 202);
}

/** `GET /v1/futures/:id` (the poll_url) and `GET /v1/futures/:id/result` (the response_url). */
export function futuresRoutes(deps: { futures: FuturesService }) {
  return new Hono<AppEnv>()
    .get("/:id", (c) =>
      c.json(futureObject(c, deps.futures.retrieve(c.get("projectId"), c.req.param("id")))),
    )
    .get("/:id/result", (c) => {
      const answer = deps.futures.answer(c.get("projectId"), c.req.param("id"));
      return c.body(answer.body, answer.statusCode as ContentfulStatusCode, {
        "content-type": "application/json",
      });
    });
}

/**
 * The future on the wire. The URLs are absolute, as the clients fetch them as given, and built
 * from the URL this request came in on.
 */
function futureObject(c: Context<AppEnv>, future: FutureState) {
  const base = `${new URL(c.req.url).origin}/v1/futures/${future.id}`;
  const isFinished = future.status === "completed" || future.status === "failed";
  return {
    id: future.id,
    object: "future",
    response_id: future.id,
    endpoint: future.endpoint,
    status: future.status,
    poll_url: base,
    response_url: isFinished ? `${base}/result` : null,
    created_at: future.createdAt,
    completed_at: future.completedAt,
    expires_at: future.expiresAt,
    error: future.error,
  };
}
