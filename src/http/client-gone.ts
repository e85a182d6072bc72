import type { ServerResponse } from "node:http";
import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";

/**
 * Runs `handler` with an AbortController that fires when the client disconnects, so a slow
 * backend call (or a mock delay) stops at once instead of running for nobody.
 */
export async function abortOnClientGone(
  c: Context,
  handler: (controller: AbortController) => Promise<Response>,
): Promise<Response> {
  const controller = new AbortController();
  const onClientGone = () =>
    controller.abort(new DOMException("client disconnected", "AbortError"));
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  const stopWatching =
    outgoing === undefined
      ? watchRequestSignal(c.req.raw.signal, onClientGone)
      : watchOutgoing(outgoing, onClientGone);
  try {
    return await handler(controller);
  } finally {
    stopWatching();
  }
}

/**
 * Under @hono/node-server: the response's 'close' event before it finished writing means the
 * connection is gone. Reading `c.req.raw.signal` instead would make node-server create an
 * AbortController for every request.
 */
function watchOutgoing(outgoing: ServerResponse, onClientGone: () => void): () => void {
  const onClose = () => {
    if (!outgoing.writableFinished) {
      onClientGone();
    }
  };
  if (outgoing.closed) {
    onClose();
    return () => {};
  }
  outgoing.once("close", onClose);
  return () => outgoing.off("close", onClose);
}

/** Elsewhere (`app.request()` in tests), the request's own signal. */
function watchRequestSignal(signal: AbortSignal, onClientGone: () => void): () => void {
  if (signal.aborted) {
    onClientGone();
    return () => {};
  }
  signal.addEventListener("abort", onClientGone, { once: true });
  return () => signal.removeEventListener("abort", onClientGone);
}
