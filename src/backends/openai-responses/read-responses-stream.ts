import { createParser, type EventSourceMessage, type ParseError } from "eventsource-parser";
import type { GenerationEvent } from "../model-contract.js";
import type { Deadline } from "../openai-compatible/deadline.js";
import {
  badAnswer,
  oversizedAnswer,
  parseJsonOrNull,
  type UpstreamContext,
} from "../openai-compatible/upstream-error.js";
import { createResponsesEventMapper, NOT_AN_EVENT, streamClosedEarly } from "./responses-events.js";

// A frame carries at most one whole item or response; one this large is a broken upstream.
const MAX_FRAME_CHARS = 16 * 1024 * 1024;

/**
 * Reads an upstream's Responses SSE body into GenerationEvents (the mapping is
 * createResponsesEventMapper's), ending at the terminal event: the body ending before one is an
 * early close. Frames are told apart by their data's `type`, not the `event:` line, which some
 * servers leave out. Every byte counts against max_response_bytes.
 *
 * The deadline is armed only while waiting on the upstream (an idle timeout); the caller arms it
 * for the wait for the response headers.
 */
export async function* readResponsesStream(
  body: ReadableStream<Uint8Array>,
  context: UpstreamContext,
  deadline: Deadline,
): AsyncGenerator<GenerationEvent> {
  const frames: EventSourceMessage[] = [];
  let tooLarge: ParseError | null = null;
  const parser = createParser({
    onEvent: (frame) => frames.push(frame),
    // Unknown fields and bad `retry:` lines are ignored, as EventSource does; only the buffer
    // limit ends the stream.
    onError: (error) => {
      if (error.type === "max-buffer-size-exceeded") {
        tooLarge = error;
      }
    },
    maxBufferSize: MAX_FRAME_CHARS,
  });
  const mapper = createResponsesEventMapper(context);
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let isEnded = false;
  let receivedBytes = 0;
  try {
    while (!mapper.isFinished && !isEnded) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      deadline.arm();
      try {
        chunk = await reader.read();
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
        throw badAnswer(context, NOT_AN_EVENT, `a frame exceeded ${MAX_FRAME_CHARS} characters`);
      }
      for (const frame of frames.splice(0)) {
        const data = frame.data.trim();
        // Not OpenAI's, but some proxies end every SSE stream with it.
        if (data === "" || data === "[DONE]") {
          continue;
        }
        const json = parseJsonOrNull(data);
        if (json === null) {
          throw badAnswer(context, NOT_AN_EVENT, `not JSON: ${data.slice(0, 200)}`);
        }
        yield* mapper.map(json);
        if (mapper.isFinished) {
          break;
        }
      }
    }
  } finally {
    // Stops the body when we leave early (the terminal event before EOF, an error, the consumer
    // stopping).
    reader.cancel().catch(() => {});
  }
  if (!mapper.isFinished) {
    throw streamClosedEarly(context);
  }
}
