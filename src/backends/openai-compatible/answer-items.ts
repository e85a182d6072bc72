import { createHash } from "node:crypto";
import type { Generation, OutputItem, OutputPart, TokenLogprob } from "../backend.js";
import {
  toFinishReason,
  toTokenUsage,
  type WireChatCompletion,
  type WireCompletion,
  type WireLegacyLogprobs,
  type WireMessage,
  type WireTokenLogprob,
} from "./wire-schemas.js";

/**
 * An upstream's whole answer (Chat Completions or legacy Completions) as a contract Generation:
 * reasoning first (the model thought before it wrote), then the message, then the tool calls,
 * the order in which every server streams them.
 */

export function generationOfChatCompletion(answer: WireChatCompletion): Generation {
  // n is never sent upstream (the service asks once per choice), so the first choice is the answer.
  const choice = answer.choices[0];
  const message: WireMessage = choice?.message ?? {};
  const items: OutputItem[] = [];
  const reasoning = reasoningOf(message);
  if (reasoning !== "") {
    items.push({ type: "reasoning", text: reasoning, summary: [], encryptedContent: null });
  }
  const parts: OutputPart[] = [];
  const content = message.content ?? "";
  const logprobs = toTokenLogprobs(choice?.logprobs?.content);
  if (content !== "" || logprobs.length > 0) {
    parts.push(
      logprobs.length > 0
        ? { type: "text", text: content, logprobs }
        : { type: "text", text: content },
    );
  }
  if (typeof message.refusal === "string" && message.refusal !== "") {
    parts.push({ type: "refusal", refusal: message.refusal });
  }
  if (parts.length > 0) {
    items.push({ type: "message", parts });
  }
  const calls = [
    ...(message.tool_calls ?? []),
    ...(message.function_call === null || message.function_call === undefined
      ? []
      : [{ index: null, id: null, function: message.function_call }]),
  ];
  for (const [position, call] of calls.entries()) {
    items.push({
      type: "function_call",
      // By the call's stream index where the server numbers them, as readChatStream does.
      callId: call.id ?? fallbackCallId(answer.id, call.index ?? position),
      name: call.function?.name ?? "",
      arguments: call.function?.arguments ?? "",
    });
  }
  const hasToolCalls = calls.length > 0;
  return {
    items: items.length > 0 ? items : [{ type: "message", parts: [] }],
    finishReason: toFinishReason(choice?.finish_reason, hasToolCalls),
    usage: toTokenUsage(answer.usage),
  };
}

export function generationOfCompletion(answer: WireCompletion): Generation {
  const choice = answer.choices[0];
  const logprobs = legacyTokenLogprobs(choice?.logprobs);
  const text = choice?.text ?? "";
  const part: OutputPart =
    logprobs.length > 0 ? { type: "text", text, logprobs } : { type: "text", text };
  return {
    items: [{ type: "message", parts: text === "" && logprobs.length === 0 ? [] : [part] }],
    finishReason: toFinishReason(choice?.finish_reason, false),
    usage: toTokenUsage(answer.usage),
  };
}

/** The reasoning text of a message or delta, under either name servers use. */
export function reasoningOf(fields: Pick<WireMessage, "reasoning_content" | "reasoning">): string {
  return fields.reasoning_content ?? fields.reasoning ?? "";
}

/** Chat's per-token logprobs in the contract's shape. */
export function toTokenLogprobs(
  logprobs: readonly WireTokenLogprob[] | null | undefined,
): TokenLogprob[] {
  return (logprobs ?? []).map((entry) => ({
    token: entry.token,
    logprob: entry.logprob,
    bytes: entry.bytes ?? null,
    topLogprobs: (entry.top_logprobs ?? []).map((top) => ({
      token: top.token,
      logprob: top.logprob,
      bytes: top.bytes ?? null,
    })),
  }));
}

/**
 * The legacy API's parallel lists as per-token logprobs. Legacy answers carry no bytes, so they
 * are null (unknown), not guessed from the token text, which may be a piece of a UTF-8 sequence.
 * `text_offset` is not kept: it is the running sum of the token lengths, which a surface that
 * needs it recomputes.
 */
export function legacyTokenLogprobs(
  logprobs: WireLegacyLogprobs | null | undefined,
): TokenLogprob[] {
  const tokens = logprobs?.tokens ?? [];
  return tokens.map((token, position) => ({
    token,
    logprob: logprobs?.token_logprobs?.[position] ?? 0,
    bytes: null,
    topLogprobs: Object.entries(logprobs?.top_logprobs?.[position] ?? {}).map(
      ([alternative, logprob]) => ({ token: alternative, logprob, bytes: null }),
    ),
  }));
}

/**
 * A call id for a server that sent none (older llama.cpp, some Ollama models): derived from the
 * completion's id and the call's position, so the sync and streamed reading of one answer agree
 * and a retry of the same stored answer gets the same id; random when the server sent no id.
 */
export function fallbackCallId(completionId: string | null | undefined, position: number): string {
  const seed = completionId ?? crypto.randomUUID();
  const digest = createHash("sha256").update(`${seed}:${position}`).digest("hex").slice(0, 24);
  return `call_${digest}`;
}
