import { createParser, type ParseError } from "eventsource-parser";
import { coerceError } from "../../lib/coerce-error.js";
import type { Deadline } from "./deadline.js";
import { badAnswer, oversizedAnswer, type UpstreamContext } from "./upstream-error.js";

export interface ReadSseDataOptions {
  /** What a frame should have been, for the 502 when one is too large. */
  readonly what: string;
  /** A frame larger than this many characters is a broken upstream. */
  readonly maxFrameChars: number;
  /**
   * Whether a failed read (a dropped connection, the idle timeout) ends the stream quietly
   * rather than failing it: true once the reader has everything that matters.
   */
  readonly endsQuietlyOn?: (err: Error) => boolean;
}

/**
 * The `data` of each frame of an upstream's SSE body, trimmed, empty ones skipped: the part
 * every upstream stream reader shares. Every byte counts against max_response_bytes (comments
 * and keep-alives included: what a stream yields is kept whole, so the total must be bounded).
 * The deadline is armed only while waiting on the upstream (an idle timeout). Ends at the end of
 * the body, a last frame without its blank line included; the body is destroyed whenever the
 * consumer stops early.
 */
export async function* readSseData(
  body: AsyncIterable<Uint8Array>,
  context: UpstreamContext,
  deadline: Deadline,
  options: ReadSseDataOptions,
): AsyncGenerator<string> {
  const frames: string[] = [];
  let tooLarge: ParseError | null = null;
  const parser = createParser({
    onEvent: (frame) => frames.push(frame.data),
    // Unknown fields and bad `retry:` lines are ignored, as EventSource does; only the buffer
    // limit ends the stream.
    onError: (error) => {
      if (error.type === "max-buffer-size-exceeded") {
        tooLarge = error;
      }
    },
    maxBufferSize: options.maxFrameChars,
  });
  const decoder = new TextDecoder();
  const chunks = body[Symbol.asyncIterator]();
  let receivedBytes = 0;
  try {
    for (;;) {
      let chunk: IteratorResult<Uint8Array>;
      deadline.arm();
      try {
        chunk = await chunks.next();
      } catch (thrown) {
        const err = coerceError(thrown);
        if (options.endsQuietlyOn?.(err) === true) {
          return;
        }
        throw err;
      } finally {
        deadline.disarm();
      }
      if (chunk.done) {
        parser.feed(decoder.decode());
        // A last frame without its blank line still counts.
        parser.reset({ consume: true });
      } else {
        receivedBytes += chunk.value.byteLength;
        if (receivedBytes > context.maxResponseBytes) {
          throw oversizedAnswer(context);
        }
        parser.feed(decoder.decode(chunk.value, { stream: true }));
      }
      if (tooLarge !== null) {
        throw badAnswer(
          context,
          options.what,
          `a frame exceeded ${options.maxFrameChars} characters`,
        );
      }
      for (const data of frames.splice(0)) {
        const trimmed = data.trim();
        if (trimmed !== "") {
          yield trimmed;
        }
      }
      if (chunk.done) {
        return;
      }
    }
  } finally {
    // Ends the body (and so the request) unless it was read to its end.
    chunks.return?.().catch(() => {});
  }
}
