import type { HeaderReader } from "./upstream-call.js";

/**
 * How long an upstream asks us to wait before retrying, read the way the openai SDKs read it:
 * `retry-after-ms` (milliseconds, may be fractional) first, then `retry-after` (seconds, or an
 * HTTP date). Returns null when neither header is present or readable. A date in the past, or a
 * negative number, means "now": 0.
 *
 * No upper cap here: the executor decides whether a long wait is worth it (the SDKs disagree:
 * node honours any value, python ignores anything over 120 s).
 */
export function parseRetryAfterMs(headers: HeaderReader, nowMs: number): number | null {
  const milliseconds = parseNumber(headers.get("retry-after-ms"));
  if (milliseconds !== null) {
    return Math.max(0, milliseconds);
  }
  const retryAfter = headers.get("retry-after");
  if (retryAfter === null) {
    return null;
  }
  const seconds = parseNumber(retryAfter);
  if (seconds !== null) {
    return Math.max(0, Math.round(seconds * 1000));
  }
  const dateMs = Date.parse(retryAfter);
  if (Number.isNaN(dateMs)) {
    return null;
  }
  return Math.max(0, dateMs - nowMs);
}

/** A plain decimal number, or null; `Number("")` is 0 and `parseFloat("3 days")` is 3, so neither is used alone. */
function parseNumber(value: string | null): number | null {
  if (value === null || !/^\s*-?\d+(\.\d+)?\s*$/.test(value)) {
    return null;
  }
  return Number(value);
}
