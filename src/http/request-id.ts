import type { HttpBindings } from "@hono/node-server";
import type { MiddlewareHandler } from "hono";
import { newId } from "../lib/ids.js";
import type { AppEnv } from "./app-env.js";

/**
 * Gives every request an id and sends it back as `x-request-id`; the SDKs copy it onto results
 * (`_request_id`) and errors (`requestID`), so a user can quote it and we can find the log line.
 *
 * Under @hono/node-server the header goes straight onto the Node response, which merges it into
 * whatever answer is written (errors and streams included). Setting it through hono instead
 * (`c.header`) makes every answer carry a fetch Headers object, which node-server then has to
 * convert: a few percent of a fast request. Elsewhere (`app.request()` in tests), `c.header`.
 */
export function requestId(): MiddlewareHandler<AppEnv> {
  return function requestIdMiddleware(c, next) {
    const id = newId("request");
    c.set("requestId", id);
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    if (outgoing === undefined) {
      c.header("x-request-id", id);
    } else {
      outgoing.setHeader("x-request-id", id);
    }
    return next();
  };
}
