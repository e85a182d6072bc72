import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ApiError } from "../lib/api-error.js";

const BODYLESS_METHODS = new Set(["GET", "HEAD", "DELETE", "OPTIONS"]);

/**
 * Rejects request bodies larger than `maxBytes` with a 413. A body with a `content-length` is
 * judged by that header alone (node's HTTP parser never delivers more bytes than it declares);
 * only a chunked body goes through hono's bodyLimit, which counts the bytes as they stream in.
 * hono's bodyLimit alone would read `c.req.raw.body`, which makes @hono/node-server build a full
 * web Request and stream for every request, a tenth of the cost of a small POST.
 */
export function limitBody(
  maxBytes: number,
  message = `The request body is larger than the limit of ${maxBytes} bytes.`,
): MiddlewareHandler {
  const tooLarge = () => ApiError.tooLarge(message);
  const countStreamedBody = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw tooLarge();
    },
  });
  return async function limitBodyMiddleware(c, next) {
    if (BODYLESS_METHODS.has(c.req.method)) {
      return next();
    }
    const contentLength = c.req.header("content-length");
    if (contentLength === undefined || c.req.header("transfer-encoding") !== undefined) {
      return countStreamedBody(c, next);
    }
    if (Number.parseInt(contentLength, 10) > maxBytes) {
      throw tooLarge();
    }
    return next();
  };
}
