import { createParser, type EventSourceMessage, type ParseError } from "eventsource-parser";
import { coerceError, isAbortError } from "../../lib/coerce-error.js";
import type { FinishReason, GenerationEvent, TokenUsage } from "../backend.js";
import { textGeneration } from "../generation-events.js";
import type { Deadline } from "./deadline.js";
import {
  badAnswer,
  earlyClose,
  oversizedAnswer,
  parseJsonOrNull,
  streamErrorFrame,
  type UpstreamContext,
} from "./upstream-error.js";
import {
  ChatCompletionChunkSchema,
  describeIssue,
  toFinishReason,
  toTokenUsage,
} from "./wire-schemas.js";

// One chunk frame is a few hundred bytes; a frame this large is a broken upstream, not text.
const MAX_FRAME_CHARS = 4 * 1024 * 1024;
const NOT_A_CHUNK = "an OpenAI chat completion chunk";

/**
 * Reads an upstream's Chat Completions SSE body: yields a delta for every non-empty
 * `choices[0].delta.content`, then exactly one `done`. Ends at `data: [DONE]`, or at the end of
 * the body once a finish_reason has been seen (some servers never send [DONE]).
 *
 * The deadline is armed only while waiting on the upstream (an idle timeout); the caller arms it
 * for the wait for the response headers.
 */
export async function* readChatStream(
  body: ReadableStream<Uint8Array>,
  context: UpstreamContext,
  deadline: Deadline,
): AsyncGenerator<GenerationEvent> {
  const events: EventSourceMessage[] = [];
  let tooLarge: ParseError | null = null;
  const parser = createParser({
    onEvent: (event) => events.push(event),
    // Unknown fields and bad `retry:` lines are ignored, as EventSource does; only the buffer
    // limit ends the stream.
    onError: (error) => {
      if (error.type === "max-buffer-size-exceeded") {
        tooLarge = error;
      }
    },
    maxBufferSize: MAX_FRAME_CHARS,
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let finishReason: FinishReason | null = null;
  let usage: TokenUsage | null = null;
  let isDone = false;
  let isEnded = false;
  // Every byte counts against max_response_bytes, comments and keep-alives included: the text
  // a stream yields is kept whole by its consumer, so the total is what must be bounded.
  let receivedBytes = 0;
  let isStarted = false;
  let collected = "";
  try {
    while (!isDone && !isEnded) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      deadline.arm();
      try {
        chunk = await reader.read();
      } catch (thrown) {
        const err = coerceError(thrown);
        // A connection dropped (or gone silent) after the finish_reason has lost at most the
        // usage chunk and [DONE]; the text is whole, so failing and regenerating it is worse.
        // The caller's abort still ends the call as an abort.
        if (finishReason !== null && (!isAbortError(err) || deadline.hasExpired)) {
          break;
        }
        throw err;
      } finally {
        deadline.disarm();
      }
      if (chunk.done) {
        parser.feed(decoder.decode());
        // A last frame without its blank line still counts.
        parser.reset({ consume: true });
        isEnded = true;
      } else {
        receivedBytes += chunk.value.byteLength;
        if (receivedBytes > context.maxResponseBytes) {
          throw oversizedAnswer(context);
        }
        parser.feed(decoder.decode(chunk.value, { stream: true }));
      }
      if (tooLarge !== null) {
        throw badAnswer(context, NOT_A_CHUNK, `a frame exceeded ${MAX_FRAME_CHARS} characters`);
      }
      for (const event of events.splice(0)) {
        const data = event.data.trim();
        if (data === "") {
          continue;
        }
        if (data === "[DONE]") {
          isDone = true;
          break;
        }
        const json = parseJsonOrNull(event.data);
        if (json !== null && typeof json === "object" && "error" in json && json.error) {
          throw streamErrorFrame(context, json);
        }
        const parsed = ChatCompletionChunkSchema.safeParse(json);
        if (!parsed.success) {
          const detail =
            json === null ? `not JSON: ${event.data.slice(0, 200)}` : describeIssue(parsed.error);
          throw badAnswer(context, NOT_A_CHUNK, detail);
        }
        const choice = parsed.data.choices?.[0];
        const text = choice?.delta?.content;
        if (typeof text === "string" && text !== "") {
          if (!isStarted) {
            isStarted = true;
            yield { type: "item.start", index: 0, item: { type: "message" } };
          }
          collected += text;
          yield { type: "text.delta", index: 0, text };
        }
        if (typeof choice?.finish_reason === "string") {
          finishReason = toFinishReason(choice.finish_reason);
        }
        // The include_usage chunk carries it; servers that report running totals on every chunk
        // end with the final count, so the last one wins.
        if (parsed.data.usage !== null && parsed.data.usage !== undefined) {
          usage = toTokenUsage(parsed.data.usage);
        }
      }
    }
  } finally {
    // Stops the body when we leave early ([DONE] before EOF, an error, the consumer stopping).
    reader.cancel().catch(() => {});
  }
  if (finishReason === null && !isDone) {
    throw earlyClose(context);
  }
  yield {
    type: "done",
    generation: textGeneration(collected, finishReason ?? "stop", usage ?? toTokenUsage(null)),
  };
}
