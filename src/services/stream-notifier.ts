import { createKeyedNotifier, type KeyedNotifier } from "./keyed-notifier.js";

/**
 * Wakes long-polls waiting on a stream when one of its items completes, keyed by stream id:
 * the executor's commit calls `notify` after the transaction, so a woken reader always finds
 * the new event.
 */
export type StreamNotifier = KeyedNotifier;

export function createStreamNotifier(): StreamNotifier {
  return createKeyedNotifier();
}
