import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { BackendError } from "../backends/backend.js";
import { ApiError, type ApiErrorOptions } from "../lib/api-error.js";
import type { Logger } from "../lib/logger.js";
import { isStorageFullError } from "../lib/storage-full.js";
import type { AppEnv } from "./app-env.js";

export function errorBody(message: string, options: ApiErrorOptions = {}) {
  return {
    error: {
      message,
      type: options.type ?? "invalid_request_error",
      param: options.param ?? null,
      code: options.code ?? null,
    },
  };
}

export function createErrorHandler(logger: Logger) {
  return function onError(thrown: Error, c: Context<AppEnv>) {
    if (thrown instanceof ApiError) {
      return renderError(c, thrown);
    }
    if (thrown instanceof BackendError) {
      return renderError(c, ApiError.fromBackend(thrown));
    }
    if (thrown instanceof HTTPException) {
      return renderError(
        c,
        new ApiError(thrown.status as ContentfulStatusCode, thrown.message || "Bad request."),
      );
    }
    if (isStorageFullError(thrown)) {
      // Not a bug, but the operator must hear of it: every write fails until space is freed.
      logger.error({ err: thrown, requestId: c.get("requestId") }, "storage is full");
      return renderError(c, ApiError.storageFull());
    }
    // Anything else is a bug: log it with the request id so it can be found, and say nothing
    // about internals to the client.
    logger.error({ err: thrown, requestId: c.get("requestId") }, "unhandled error");
    return renderError(
      c,
      new ApiError(500, "The server had an error while processing your request.", {
        type: "server_error",
      }),
    );
  };
}

function renderError(c: Context<AppEnv>, err: ApiError) {
  for (const [name, value] of Object.entries(err.options.headers ?? {})) {
    c.header(name, value);
  }
  return c.json(errorBody(err.message, err.options), err.status as ContentfulStatusCode);
}
