import type { GenerationEvent } from "../model-contract.js";
import type { Deadline } from "../openai-compatible/deadline.js";
import { readSseData } from "../openai-compatible/read-sse-data.js";
import {
  badAnswer,
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
  body: AsyncIterable<Uint8Array>,
  context: UpstreamContext,
  deadline: Deadline,
): AsyncGenerator<GenerationEvent> {
  const mapper = createResponsesEventMapper(context);
  // Leaving the loop (the terminal event before EOF, an error) stops the body.
  for await (const data of readSseData(body, context, deadline, {
    what: NOT_AN_EVENT,
    maxFrameChars: MAX_FRAME_CHARS,
  })) {
    // Not OpenAI's, but some proxies end every SSE stream with it.
    if (data === "[DONE]") {
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
  if (!mapper.isFinished) {
    throw streamClosedEarly(context);
  }
}
