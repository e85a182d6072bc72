import { createHash, randomFillSync } from "node:crypto";

/**
 * Every id ferry hands out, in one place. Prefixes follow OpenAI's conventions so that ids look
 * familiar in logs and SDK objects: resp_, msg_, chatcmpl-, cmpl-, file-, batch_, req_, whe_, evt_, wh_.
 */
const PREFIXES = {
  response: "resp_",
  message: "msg_",
  chatCompletion: "chatcmpl-",
  completion: "cmpl-",
  request: "req_",
  file: "file-",
  batch: "batch_",
  batchRequest: "batch_req_",
  stream: "stream_",
  functionCall: "fc_",
  functionCallOutput: "fco_",
  reasoning: "rs_",
  call: "call_",
  future: "fut_",
  webhookEndpoint: "whe_",
  event: "evt_",
  /** A webhook delivery: its `webhook-id` header, the same on every attempt. */
  webhookDelivery: "wh_",
} as const;

export type IdKind = keyof typeof PREFIXES;

const TIME_HEX_CHARS = 12;
const RANDOM_BYTES = 18;

// Random bytes are drawn from a pool refilled in large blocks, and hex-encoded with it: one
// randomFillSync and one toString per 512 ids instead of a call (and a Buffer) per id. Every id
// is on the hot path of a request (request id, response id, message id), so this matters. The
// pool never hands out a byte twice.
const POOL_BYTES = RANDOM_BYTES * 512;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolHex = "";
let poolOffset = POOL_BYTES;

// Ids made in the same millisecond share the encoded time.
let lastMs = -1;
let lastTimeHex = "";

/**
 * 48 hex characters after the prefix, close to OpenAI's id lengths: 12 of milliseconds since the
 * epoch, then 36 random (144 bits, unguessable). Leading with the time keeps ids made close
 * together close in a primary-key index, so inserts append to the same few B-tree pages instead
 * of touching a random page each. The wall clock (not the injected Clock) is right here: it only
 * orders storage, and no behaviour depends on it.
 */
export function newId(kind: IdKind): string {
  if (poolOffset + RANDOM_BYTES > POOL_BYTES) {
    randomFillSync(pool);
    poolHex = pool.toString("hex");
    poolOffset = 0;
  }
  const random = poolHex.slice(poolOffset * 2, (poolOffset + RANDOM_BYTES) * 2);
  poolOffset += RANDOM_BYTES;
  const nowMs = Date.now();
  if (nowMs !== lastMs) {
    lastMs = nowMs;
    lastTimeHex = nowMs.toString(16).padStart(TIME_HEX_CHARS, "0");
  }
  return PREFIXES[kind] + lastTimeHex + random;
}

export function hasIdPrefix(kind: IdKind, id: string): boolean {
  return id.startsWith(PREFIXES[kind]);
}

/**
 * An id that is a function of `seed` alone, the same length as `newId`'s: for an object that a
 * restartable step must create exactly once (a batch's output file), so that running the step
 * again after a crash names the same object instead of making a second one. Unguessable as long
 * as the seed is (a batch id is).
 */
export function derivedId(kind: IdKind, seed: string): string {
  const hex = createHash("sha256").update(seed).digest("hex");
  return PREFIXES[kind] + hex.slice(0, TIME_HEX_CHARS + RANDOM_BYTES * 2);
}

/** The kinds of item a response's output holds, and so the kinds `outputItemId` makes. */
export type OutputItemKind = "message" | "functionCall" | "reasoning";

const OUTPUT_INDEX_HEX_CHARS = 4;
const RESPONSE_HEX_CHARS = TIME_HEX_CHARS + RANDOM_BYTES * 2;
const OUTPUT_ITEM_ID = new RegExp(
  `^(?:${PREFIXES.message}|${PREFIXES.functionCall}|${PREFIXES.reasoning})([0-9a-f]{${RESPONSE_HEX_CHARS}})[0-9a-f]{${OUTPUT_INDEX_HEX_CHARS},}$`,
);

/**
 * The id of the item at `outputIndex` of response `responseId`: the kind's prefix, the 48 hex
 * characters of the response id, then the index as at least 4 hex characters
 * (`msg_<response hex>0000`, `fc_<response hex>0001`). An input `item_reference` then names its
 * response directly (see `responseIdOfOutputItem`), with no table of item ids; and the ids stay
 * unique, being unique per response. Every other id has exactly 48 hex characters, so none is
 * taken for one of these.
 */
export function outputItemId(
  kind: OutputItemKind,
  responseId: string,
  outputIndex: number,
): string {
  const responseHex = responseId.slice(PREFIXES.response.length);
  return (
    PREFIXES[kind] + responseHex + outputIndex.toString(16).padStart(OUTPUT_INDEX_HEX_CHARS, "0")
  );
}

/** The response an `outputItemId` belongs to, or null for any other id. */
export function responseIdOfOutputItem(itemId: string): string | null {
  const match = OUTPUT_ITEM_ID.exec(itemId);
  return match === null ? null : PREFIXES.response + match[1];
}
