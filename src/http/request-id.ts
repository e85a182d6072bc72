import type { MiddlewareHandler } from "hono";
import { newId } from "../lib/ids.js";
import type { AppEnv } from "./app-env.js";

/**
 * Gives every request an id and sends it back as `x-request-id`; the SDKs copy it onto results
 * (`_request_id`) and errors (`requestID`), so a user can quote it and we can find the log line.
 */
export function requestId(): MiddlewareHandler<AppEnv> {
  return async function requestIdMiddleware(c, next) {
    const id = newId("request");
    c.set("requestId", id);
    c.header("x-request-id", id);
    await next();
  };
}
