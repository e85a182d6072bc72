import type { Context } from "hono";
import { z } from "zod";
import type { AppEnv } from "./app-env.js";
import { whileClientConnected } from "./client-gone.js";
import { acquireLongPoll, type LongPollLimiter } from "./long-poll-limit.js";

/** GET of a response or batch waits at most a minute for it to end. */
export const MAX_OBJECT_WAIT_MS = 60_000;

export const WaitMsSchema = z.coerce.number().int().min(0).max(MAX_OBJECT_WAIT_MS).default(0);

/**
 * Answers `read()` at once for wait_ms 0, else waits (`wait`) in one of the key's long-poll
 * slots, released however the wait ends; a client that goes away ends it at once.
 */
export async function answerAfterWait<T>(
  c: Context<AppEnv>,
  longPolls: LongPollLimiter | undefined,
  waitMs: number,
  read: () => T,
  wait: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (waitMs === 0) {
    return read();
  }
  const release = acquireLongPoll(c, longPolls);
  try {
    return await whileClientConnected(c, wait);
  } finally {
    release();
  }
}
