import type { Generation, OutputItem, OutputPart, TokenLogprob } from "../backends/backend.js";
import { outputItemId } from "../lib/ids.js";

/**
 * Contract output items as Responses API output items (OutputItem in the official spec):
 * `message` with output_text / refusal parts, `function_call` (fc_… id, call_id, name,
 * arguments, status), `reasoning` (rs_… id, summary, content, encrypted_content). An item a
 * native Responses upstream produced is returned as it came.
 */

export type ItemStatus = "in_progress" | "completed" | "incomplete";

/**
 * Whether output_text parts carry logprobs (include: ["message.output_text.logprobs"]), and
 * how many alternatives per token (`top_logprobs`): null when not included.
 */
export type LogprobsOutput = { readonly topLogprobs: number } | null;

/** The logprobs a request asked for, from its contract sampling. */
export function logprobsOutputOf(sampling: {
  readonly logprobs: boolean;
  readonly topLogprobs: number | null;
}): LogprobsOutput {
  return sampling.logprobs ? { topLogprobs: sampling.topLogprobs ?? 0 } : null;
}
export type ResponseOutputItem = Record<string, unknown> & { type: string; id?: string };

/**
 * Whether the request asked for reasoning summaries (`reasoning.summary` or the older
 * `reasoning.generate_summary`): then a reasoning item whose backend gave text but no summary
 * shows that text as its summary, which is what clients that ask for one display.
 */
export function summaryWanted(params: { reasoning: { summary: string | null } }): boolean {
  return params.reasoning.summary !== null;
}

/** The output items of a finished generation; `status` is that of its message items. */
export function outputItemsOf(
  generation: Pick<Generation, "items">,
  status: ItemStatus,
  logprobs: LogprobsOutput,
  response: { readonly id: string; readonly summary: boolean },
): ResponseOutputItem[] {
  return generation.items.map((item, index) =>
    outputItem(item, idFor(item, response.id, index), status, logprobs, response.summary),
  );
}

/**
 * The id of the item at `outputIndex` of response `responseId` (see `outputItemId`: an
 * `item_reference` to it finds the response from the id); a native item keeps its own.
 */
export function idFor(
  item: Pick<OutputItem, "type"> & { native?: unknown },
  responseId: string,
  outputIndex: number,
): string {
  const native = item.native as { id?: unknown } | undefined;
  if (typeof native?.id === "string") {
    return native.id;
  }
  switch (item.type) {
    case "function_call":
      return outputItemId("functionCall", responseId, outputIndex);
    case "reasoning":
      return outputItemId("reasoning", responseId, outputIndex);
    default:
      return outputItemId("message", responseId, outputIndex);
  }
}

export function outputItem(
  item: OutputItem,
  id: string,
  status: ItemStatus,
  logprobs: LogprobsOutput,
  summary = false,
): ResponseOutputItem {
  if (item.type === "native" || item.native !== undefined) {
    return { ...item.native } as ResponseOutputItem;
  }
  switch (item.type) {
    case "message":
      return messageItem(id, item.parts, status, logprobs);
    case "function_call":
      return functionCallItem(id, item.callId, item.name, item.arguments, status);
    case "reasoning":
      return reasoningItem(id, item.text, item.summary, item.encryptedContent, summary);
  }
}

export function messageItem(
  id: string,
  parts: readonly OutputPart[],
  status: ItemStatus,
  logprobs: LogprobsOutput,
): ResponseOutputItem {
  return {
    type: "message",
    id,
    role: "assistant",
    status,
    content: parts.map((part) => contentPart(part, logprobs)),
  };
}

export function contentPart(part: OutputPart, logprobs: LogprobsOutput): Record<string, unknown> {
  if (part.type === "refusal") {
    return { type: "refusal", refusal: part.refusal };
  }
  return outputTextPart(part.text, wireLogprobs(part.logprobs, logprobs));
}

export type WireLogprob = ReturnType<typeof wireLogprob>;

export function outputTextPart(text: string, logprobs: readonly WireLogprob[] = []) {
  return {
    type: "output_text" as const,
    text,
    annotations: [] as unknown[],
    logprobs: [...logprobs],
  };
}

/** A part's token logprobs on the wire: none unless included, at most `top_logprobs` alternatives. */
export function wireLogprobs(
  tokens: readonly TokenLogprob[] | undefined,
  logprobs: LogprobsOutput,
): WireLogprob[] {
  if (logprobs === null || tokens === undefined) {
    return [];
  }
  return tokens.map((token) => wireLogprob(token, logprobs.topLogprobs));
}

/** A token's logprob as the Responses API writes it (snake_case top_logprobs). */
function wireLogprob(logprob: TokenLogprob, topLogprobs: number) {
  return {
    token: logprob.token,
    logprob: logprob.logprob,
    bytes: logprob.bytes ?? [],
    top_logprobs: logprob.topLogprobs.slice(0, topLogprobs).map((top) => ({
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

/** `textAsSummary`: a summary was asked for, so text with no summary of its own becomes one. */
export function reasoningItem(
  id: string,
  text: string,
  summary: readonly string[],
  encryptedContent: string | null,
  textAsSummary = false,
): ResponseOutputItem {
  if (textAsSummary && summary.length === 0 && text !== "") {
    return reasoningItem(id, "", [text], encryptedContent);
  }
  return {
    type: "reasoning",
    id,
    summary: summary.map((entry) => ({ type: "summary_text", text: entry })),
    ...(text === "" ? {} : { content: [{ type: "reasoning_text", text }] }),
    ...(encryptedContent === null ? {} : { encrypted_content: encryptedContent }),
  };
}
