import type { FinishReason, GenerationEvent, TokenUsage } from "../backends/backend.js";
import type { ResponseStreamEvent } from "../contract/response-object.js";
import { coerceError } from "../lib/coerce-error.js";
import {
  outputMessage,
  outputTextPart,
  type ResponseState,
  toResponseObject,
} from "./response-object.js";

export interface ResponseStreamOptions {
  /** The response as it starts: status in_progress, empty output. */
  readonly initial: ResponseState;
  /** The events that open the stream: created + in_progress, or just in_progress for a background run. */
  readonly opening?: readonly ("response.created" | "response.queued" | "response.in_progress")[];
  /** Where numbering starts: 0, or after the events a background response already has. */
  readonly firstSequenceNumber?: number;
  /** The backend's first event, already awaited (so early failures never start a stream). */
  readonly first: IteratorResult<GenerationEvent>;
  readonly generation: AsyncIterator<GenerationEvent>;
  readonly messageId: string;
  readonly signal: AbortSignal;
  finish(
    state: ResponseState,
    text: string,
    finishReason: FinishReason,
    usage: TokenUsage,
  ): ResponseState;
  fail(state: ResponseState, err: Error): ResponseState;
  /** Called with the final state before the terminal event is sent, so a GET right after finds it. */
  onEnd(state: ResponseState): void;
}

/**
 * The Responses API event sequence for one text answer, as OpenAI sends it:
 * created, in_progress, output_item.added, content_part.added, output_text.delta…,
 * output_text.done, content_part.done, output_item.done, then completed or incomplete
 * (or failed when the backend breaks mid-way). `sequence_number` counts from 0 and every event
 * type is one the SDK's stream helper knows; it throws on invented ones.
 */
export async function* streamResponseEvents(
  options: ResponseStreamOptions,
): AsyncGenerator<ResponseStreamEvent> {
  let sequenceNumber = options.firstSequenceNumber ?? 0;
  const event = (type: string, body: Record<string, unknown>): ResponseStreamEvent => ({
    type,
    sequence_number: sequenceNumber++,
    ...body,
  });
  const itemId = options.messageId;
  const at = { item_id: itemId, output_index: 0, content_index: 0 };

  // Whenever the reader stops (it went away, or stopped reading), even at the opening events,
  // the backend's stream is returned: that is what ends its call and frees its slot.
  try {
    for (const type of options.opening ?? ["response.created", "response.in_progress"]) {
      yield event(type, { response: toResponseObject(options.initial) });
    }
    yield event("response.output_item.added", {
      output_index: 0,
      item: outputMessage(itemId, "", "in_progress"),
    });
    yield event("response.content_part.added", { ...at, part: outputTextPart("") });

    let text = "";
    let final: ResponseState | null = null;
    let result = options.first;
    try {
      while (!result.done) {
        const generated = result.value;
        if (generated.type === "delta") {
          text += generated.text;
          yield event("response.output_text.delta", { ...at, delta: generated.text, logprobs: [] });
        } else {
          final = options.finish(options.initial, text, generated.finishReason, generated.usage);
        }
        result = await options.generation.next();
      }
      if (final === null) {
        throw new Error("The backend ended the stream without finishing the response.");
      }
    } catch (thrown) {
      if (options.signal.aborted) {
        return; // the client is gone; nobody is listening and nothing is stored
      }
      const failed = options.fail(
        {
          ...options.initial,
          output: text === "" ? [] : [outputMessage(itemId, text, "incomplete")],
        },
        coerceError(thrown),
      );
      options.onEnd(failed);
      yield event("response.failed", { response: toResponseObject(failed) });
      return;
    }

    const item = final.output[0] ?? outputMessage(itemId, text, "completed");
    yield event("response.output_text.done", { ...at, text, logprobs: [] });
    yield event("response.content_part.done", { ...at, part: outputTextPart(text) });
    yield event("response.output_item.done", { output_index: 0, item });
    options.onEnd(final);
    const terminal = final.status === "incomplete" ? "response.incomplete" : "response.completed";
    yield event(terminal, { response: toResponseObject(final) });
  } finally {
    await options.generation.return?.();
  }
}
