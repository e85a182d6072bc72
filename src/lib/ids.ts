import { randomBytes } from "node:crypto";

/**
 * Every id ferry hands out, in one place. Prefixes follow OpenAI's conventions so that ids look
 * familiar in logs and SDK objects: resp_, msg_, chatcmpl-, file-, batch_, req_.
 */
const PREFIXES = {
  response: "resp_",
  message: "msg_",
  chatCompletion: "chatcmpl-",
  request: "req_",
  file: "file-",
  batch: "batch_",
  batchRequest: "batch_req_",
  functionCall: "fc_",
  functionCallOutput: "fco_",
  reasoning: "rs_",
  call: "call_",
} as const;

export type IdKind = keyof typeof PREFIXES;

// 24 random bytes in hex is 48 characters, close to OpenAI's id lengths and unguessable.
export function newId(kind: IdKind): string {
  return PREFIXES[kind] + randomBytes(24).toString("hex");
}

export function hasIdPrefix(kind: IdKind, id: string): boolean {
  return id.startsWith(PREFIXES[kind]);
}
