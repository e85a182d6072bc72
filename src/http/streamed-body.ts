import type { Context } from "hono";
import { ApiError } from "../lib/api-error.js";
import type { Logger } from "../lib/logger.js";
import type { AppEnv } from "./app-env.js";

/**
 * Runs a handler that reads its request body as a stream (an upload, a JSONL body). A refusal
 * may leave the rest of the body unread, and the server then drops the connection: say so with
 * `connection: close`, or a keep-alive client sends its next request down a socket that is about
 * to close ("other side closed"). A client that went away mid-body is not a server error: it is
 * logged at info, naming `what` it was sending.
 */
export async function whileReadingBody(
  c: Context<AppEnv>,
  logger: Logger,
  what: string,
  handle: () => Promise<Response>,
): Promise<Response> {
  try {
    return await handle();
  } catch (thrown) {
    c.header("connection", "close");
    if (c.req.raw.signal.aborted && thrown instanceof ApiError) {
      logger.info(
        { requestId: c.get("requestId") },
        `the client closed the connection before the end of its ${what}; nothing was stored`,
      );
    }
    throw thrown;
  }
}
