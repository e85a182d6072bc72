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
  const requestSignal = c.req.raw.signal;
  if (requestSignal.aborted) {
    onClientGone();
  }
  requestSignal.addEventListener("abort", onClientGone, { once: true });
  try {
    return await handler(controller);
  } finally {
    requestSignal.removeEventListener("abort", onClientGone);
  }
}
