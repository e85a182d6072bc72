import { isAbortError } from "../../lib/coerce-error.js";
import type { GenerationEvent, TokenUsage } from "../backend.js";
import {
  fallbackCallId,
  legacyTokenLogprobs,
  reasoningOf,
  toTokenLogprobs,
} from "./answer-items.js";
import type { Deadline } from "./deadline.js";
import { readSseData } from "./read-sse-data.js";
import { StreamItems } from "./stream-items.js";
import {
  badAnswer,
  earlyClose,
  parseJsonOrNull,
  streamErrorFrame,
  type UpstreamContext,
} from "./upstream-error.js";
import {
  describeIssue,
  StreamChunkSchema,
  toFinishReason,
  toTokenUsage,
  type WireStreamChunk,
} from "./wire-schemas.js";

// One chunk frame is a few hundred bytes; a frame this large is a broken upstream, not text.
const MAX_FRAME_CHARS = 4 * 1024 * 1024;
const NOT_A_CHUNK = "an OpenAI chat completion chunk";

/**
 * Reads an upstream's SSE body, Chat Completions chunks or legacy `text_completion` chunks:
 * yields the items of `choices[0]` (reasoning, message text with its logprobs, refusal, tool
 * calls; see StreamItems for their order), then exactly one `done`. Ends at `data: [DONE]`, or at
 * the end of the body once a finish_reason has been seen (some servers never send [DONE]).
 *
 * The deadline is armed only while waiting on the upstream (an idle timeout); the caller arms it
 * for the wait for the response headers.
 */
export async function* readChatStream(
  body: AsyncIterable<Uint8Array>,
  context: UpstreamContext,
  deadline: Deadline,
): AsyncGenerator<GenerationEvent> {
  // The upstream's own word; mapped at the end, once it is known whether tools were called.
  let finishReason: string | null = null;
  let usage: TokenUsage | null = null;
  let isDone = false;
  // Filled from the first chunk's id, before any call can need it.
  let completionId: string | null | undefined;
  const items = new StreamItems((key) => fallbackCallId(completionId, key));
  const calls = new CallKeys();
  // Leaving the loop ([DONE] before EOF, an error) stops the body.
  for await (const data of readSseData(body, context, deadline, {
    what: NOT_A_CHUNK,
    maxFrameChars: MAX_FRAME_CHARS,
    // A connection dropped (or gone silent) after the finish_reason has lost at most the usage
    // chunk and [DONE]; the text is whole, so failing and regenerating it is worse. The caller's
    // abort still ends the call as an abort.
    endsQuietlyOn: (err) => finishReason !== null && (!isAbortError(err) || deadline.hasExpired),
  })) {
    if (data === "[DONE]") {
      isDone = true;
      break;
    }
    const json = parseJsonOrNull(data);
    if (json !== null && typeof json === "object" && "error" in json && json.error) {
      throw streamErrorFrame(context, json);
    }
    const parsed = StreamChunkSchema.safeParse(json);
    if (!parsed.success) {
      const detail =
        json === null ? `not JSON: ${data.slice(0, 200)}` : describeIssue(parsed.error);
      throw badAnswer(context, NOT_A_CHUNK, detail);
    }
    completionId ??= parsed.data.id;
    const choice = parsed.data.choices?.[0];
    yield* eventsOfChoice(choice, items, calls);
    if (typeof choice?.finish_reason === "string") {
      finishReason = choice.finish_reason;
    }
    // The include_usage chunk carries it; servers that report running totals on every chunk
    // end with the final count, so the last one wins.
    if (parsed.data.usage !== null && parsed.data.usage !== undefined) {
      usage = toTokenUsage(parsed.data.usage);
    }
  }
  if (finishReason === null && !isDone) {
    throw earlyClose(context);
  }
  if (items.hasUnnamedCall) {
    throw badAnswer(context, NOT_A_CHUNK, "a tool call never got its function name");
  }
  yield* items.finish(
    toFinishReason(finishReason, items.hasToolCalls),
    usage ?? toTokenUsage(null),
  );
}

type StreamChoice = NonNullable<WireStreamChunk["choices"]>[number];

/** One chunk's choice, as the events it makes (most chunks: one delta, or none). */
function eventsOfChoice(
  choice: StreamChoice | undefined,
  items: StreamItems,
  calls: CallKeys,
): GenerationEvent[] {
  if (choice === undefined) {
    return [];
  }
  const events: GenerationEvent[] = [];
  if (typeof choice.text === "string") {
    // A legacy text_completion chunk.
    events.push(...items.text(choice.text, legacyTokenLogprobs(choice.logprobs)));
    return events;
  }
  const delta = choice.delta;
  if (delta === null || delta === undefined) {
    return events;
  }
  // Within one chunk, in the order a model produces them.
  events.push(...items.reasoning(reasoningOf(delta)));
  events.push(...items.text(delta.content ?? "", toTokenLogprobs(choice.logprobs?.content)));
  events.push(...items.refusal(delta.refusal ?? ""));
  for (const [position, call] of (delta.tool_calls ?? []).entries()) {
    events.push(
      ...items.toolCall({
        key: calls.keyOf(call.index, call.id, position),
        id: call.id ?? null,
        name: call.function?.name ?? null,
        arguments: call.function?.arguments ?? "",
      }),
    );
  }
  if (delta.function_call !== null && delta.function_call !== undefined) {
    events.push(
      ...items.toolCall({
        key: LEGACY_FUNCTION_CALL,
        id: null,
        name: delta.function_call.name ?? null,
        arguments: delta.function_call.arguments ?? "",
      }),
    );
  }
  return events;
}

// The deprecated `function_call` is one call; a key no server index can be.
const LEGACY_FUNCTION_CALL = -1;

/**
 * Which call a fragment extends: its `index`, as OpenAI sends it. Some servers (Gemini's OpenAI
 * layer, some proxies) leave `index` out and send each call whole; a new id is then a new call,
 * and a fragment with neither extends the last one.
 */
class CallKeys {
  private readonly byId = new Map<string, number>();
  private last: number | null = null;
  private next = 0;

  keyOf(index: number | null | undefined, id: string | null | undefined, position: number) {
    let key: number;
    if (typeof index === "number") {
      key = index;
    } else if (typeof id === "string" && id !== "") {
      key = this.byId.get(id) ?? this.next;
    } else {
      key = this.last ?? position;
    }
    if (typeof id === "string" && id !== "" && !this.byId.has(id)) {
      this.byId.set(id, key);
    }
    this.last = key;
    this.next = Math.max(this.next, key + 1);
    return key;
  }
}
