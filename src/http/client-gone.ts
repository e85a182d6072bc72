import { getEventListeners } from "node:events";
import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";

/**
 * Runs `handler` with an AbortController that fires when the client disconnects, so a slow
 * backend call (or a mock delay) stops at once instead of running for nobody.
 */
export async function abortOnClientGone<T>(
  c: Context,
  handler: (controller: AbortController) => Promise<T>,
): Promise<T> {
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
 * Runs `work` with a signal that aborts when the client disconnects, for a handler whose answer
 * is complete once `work` settles: nothing may use the signal after that (a stream that outlives
 * the handler needs abortOnClientGone and a controller of its own).
 *
 * Creating an AbortSignal costs microseconds (it is an EventTarget), a real share of a fast sync
 * request. HTTP/1.1 cannot cancel one request and keep its connection, so a disconnect is a
 * property of the socket: a signal that ended unaborted with no listener left is
 * indistinguishable from a new one and is kept for the socket's next request.
 */
export async function whileClientConnected<T>(
  c: Context,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  const socket = outgoing?.socket ?? null;
  if (outgoing === undefined || socket === null) {
    return abortOnClientGone(c, (controller) => work(controller.signal));
  }
  const controller = spareControllers.get(socket) ?? new AbortController();
  // Taken, not shared: a pipelined request on the same socket running meanwhile gets another.
  spareControllers.delete(socket);
  const stopWatching = watchOutgoing(outgoing, () =>
    controller.abort(new DOMException("client disconnected", "AbortError")),
  );
  try {
    return await work(controller.signal);
  } finally {
    stopWatching();
    if (!controller.signal.aborted && getEventListeners(controller.signal, "abort").length === 0) {
      spareControllers.set(socket, controller);
    }
  }
}

// Weak: a closed socket takes its spare controller with it.
const spareControllers = new WeakMap<Socket, AbortController>();

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
