import type { Generation, OutputItem, OutputPart, TokenLogprob } from "../backends/backend.js";
import { newId } from "../lib/ids.js";

/**
 * Contract output items as Responses API output items (OutputItem in the official spec):
 * `message` with output_text / refusal parts, `function_call` (fc_… id, call_id, name,
 * arguments, status), `reasoning` (rs_… id, summary, content, encrypted_content). An item a
 * native Responses upstream produced is returned as it came.
 */

export type ItemStatus = "in_progress" | "completed" | "incomplete";
export type ResponseOutputItem = Record<string, unknown> & { type: string; id?: string };

/** The output items of a finished generation; `status` is that of its message items. */
export function outputItemsOf(
  generation: Pick<Generation, "items">,
  status: ItemStatus,
  includeLogprobs: boolean,
): ResponseOutputItem[] {
  return generation.items.map((item) => outputItem(item, idFor(item), status, includeLogprobs));
}

/** A fresh id for an item of this type (a native item keeps its own). */
export function idFor(item: Pick<OutputItem, "type"> & { native?: unknown }): string {
  const native = item.native as { id?: unknown } | undefined;
  if (typeof native?.id === "string") {
    return native.id;
  }
  switch (item.type) {
    case "function_call":
      return newId("functionCall");
    case "reasoning":
      return newId("reasoning");
    default:
      return newId("message");
  }
}

export function outputItem(
  item: OutputItem,
  id: string,
  status: ItemStatus,
  includeLogprobs: boolean,
): ResponseOutputItem {
  if (item.type === "native" || item.native !== undefined) {
    return { ...item.native } as ResponseOutputItem;
  }
  switch (item.type) {
    case "message":
      return messageItem(id, item.parts, status, includeLogprobs);
    case "function_call":
      return functionCallItem(id, item.callId, item.name, item.arguments, "completed");
    case "reasoning":
      return reasoningItem(id, item.text, item.summary, item.encryptedContent);
  }
}

export function messageItem(
  id: string,
  parts: readonly OutputPart[],
  status: ItemStatus,
  includeLogprobs: boolean,
): ResponseOutputItem {
  return {
    type: "message",
    id,
    role: "assistant",
    status,
    content: parts.map((part) => contentPart(part, includeLogprobs)),
  };
}

export function contentPart(part: OutputPart, includeLogprobs: boolean): Record<string, unknown> {
  if (part.type === "refusal") {
    return { type: "refusal", refusal: part.refusal };
  }
  return outputTextPart(part.text, includeLogprobs ? (part.logprobs ?? []) : []);
}

export function outputTextPart(text: string, logprobs: readonly TokenLogprob[] = []) {
  return {
    type: "output_text" as const,
    text,
    annotations: [] as unknown[],
    logprobs: logprobs.map(wireLogprob),
  };
}

/** A token's logprob as the Responses API writes it (snake_case top_logprobs). */
export function wireLogprob(logprob: TokenLogprob) {
  return {
    token: logprob.token,
    logprob: logprob.logprob,
    bytes: logprob.bytes ?? [],
    top_logprobs: logprob.topLogprobs.map((top) => ({
      token: top.token,
      logprob: top.logprob,
      bytes: top.bytes ?? [],
    })),
  };
}

export function functionCallItem(
  id: string,
  callId: string,
  name: string,
  args: string,
  status: ItemStatus,
): ResponseOutputItem {
  return { type: "function_call", id, call_id: callId, name, arguments: args, status };
}

export function reasoningItem(
  id: string,
  text: string,
  summary: readonly string[],
  encryptedContent: string | null,
): ResponseOutputItem {
  return {
    type: "reasoning",
    id,
    summary: summary.map((entry) => ({ type: "summary_text", text: entry })),
    ...(text === "" ? {} : { content: [{ type: "reasoning_text", text }] }),
    ...(encryptedContent === null ? {} : { encrypted_content: encryptedContent }),
  };
}
