import { createParser, type EventSourceMessage, type ParseError } from "eventsource-parser";
import { z } from "zod";
import { BackendError } from "../backend.js";
import { eventsOfGeneration, itemStart } from "../generation-events.js";
import type {
  Generation,
  GenerationEvent,
  OutputItem,
  OutputItemStart,
} from "../model-contract.js";
import type { Deadline } from "../openai-compatible/deadline.js";
import {
  badAnswer,
  oversizedAnswer,
  parseJsonOrNull,
  streamErrorFrame,
  type UpstreamContext,
} from "../openai-compatible/upstream-error.js";
import { describeIssue } from "../openai-compatible/wire-schemas.js";
import {
  failedResponseError,
  LogprobsSchema,
  ResponseSchema,
  toGeneration,
  toOutputItem,
  toTokenLogprobs,
} from "./response-output.js";

// A frame carries at most one whole item or response; one this large is a broken upstream.
const MAX_FRAME_CHARS = 16 * 1024 * 1024;
const NOT_AN_EVENT = "an OpenAI Responses stream event";

const EventSchema = z.looseObject({ type: z.string() });
const ItemEventSchema = z.looseObject({
  output_index: z.number().int().nonnegative(),
  item: z.looseObject({ type: z.string() }),
});
const DeltaEventSchema = z.looseObject({
  output_index: z.number().int().nonnegative(),
  delta: z.string(),
  logprobs: LogprobsSchema.nullish(),
});
const TerminalEventSchema = z.looseObject({ response: ResponseSchema });
const ErrorEventSchema = z.looseObject({
  message: z.string().nullish(),
  code: z.string().nullish(),
  param: z.string().nullish(),
});

/** The delta events ferry turns into contract deltas, and the item type each belongs to. */
const DELTAS = {
  "response.output_text.delta": { event: "text.delta", item: "message" },
  "response.refusal.delta": { event: "refusal.delta", item: "message" },
  "response.function_call_arguments.delta": { event: "arguments.delta", item: "function_call" },
  "response.reasoning_text.delta": { event: "reasoning.delta", item: "reasoning" },
} as const;

/**
 * Reads an upstream's Responses SSE body into GenerationEvents: `response.output_item.added`
 * opens an item (a `native` one for types only the Responses API has, such as web_search_call,
 * announced once `response.output_item.done` has it whole), the text, refusal, arguments and reasoning-text deltas extend it, and `response.completed` or
 * `response.incomplete` ends the stream with `done`, whose generation is built from that event's
 * Response, so every item arrives whole (encrypted reasoning, a search call's results). Events
 * the contract has no place for (content_part.*, *.done, a search's progress, annotations,
 * reasoning summary deltas) are read past: their content is in the final Response.
 * `response.failed` and `error` end it with a BackendError. Ends at the terminal event; the body
 * ending before one is an early close.
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
    onError: (error) => {
      if (error.type === "max-buffer-size-exceeded") {
        tooLarge = error;
      }
    },
    maxBufferSize: MAX_FRAME_CHARS,
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  // The upstream's output_index -> the contract's item index and type.
  const opened = new Map<number, { index: number; type: OutputItemStart["type"] }>();
  // Whole items from output_item.done, for an upstream whose final Response lists no output.
  const finished = new Map<number, OutputItem>();
  // A native item's start, held back until the item is done, so it is announced whole (a
  // search call with its query and sources): the contract has no deltas for it, so nothing is
  // lost by the wait, and its item.start is all a consumer ever gets of it before `done`.
  let held: { index: number; outputIndex: number; start: OutputItemStart } | null = null;
  // How many items have had their item.start yielded.
  let announced = 0;
  let generation: Generation | null = null;
  let isEnded = false;
  // Every byte counts against max_response_bytes, keep-alives included.
  let receivedBytes = 0;
  try {
    while (generation === null && !isEnded) {
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
        const json = parseJsonOrNull(frame.data);
        const event = EventSchema.safeParse(json);
        if (!event.success) {
          const detail =
            json === null ? `not JSON: ${data.slice(0, 200)}` : describeIssue(event.error);
          throw badAnswer(context, NOT_AN_EVENT, detail);
        }
        const type = event.data.type;
        if (type === "error") {
          const fields = read(ErrorEventSchema, json, type, context);
          throw streamErrorFrame(context, { error: { ...fields, message: fields.message ?? "" } });
        }
        if (type === "response.failed") {
          throw failedResponseError(
            read(TerminalEventSchema, json, type, context).response,
            context,
          );
        }
        if (type === "response.completed" || type === "response.incomplete") {
          const { response } = read(TerminalEventSchema, json, type, context);
          generation = toGeneration(response, context);
          if (generation.items.length === 0 && finished.size > 0) {
            const items = [...finished.entries()].sort(([a], [b]) => a - b).map(([, item]) => item);
            generation = { ...generation, items };
          }
          break;
        }
        if (type === "response.output_item.added") {
          const { output_index, item } = read(ItemEventSchema, json, type, context);
          if (!opened.has(output_index)) {
            if (held !== null) {
              // Never done before the next began: announced as it began.
              yield { type: "item.start", index: held.index, item: held.start };
              announced += 1;
              held = null;
            }
            const start = itemStart(toOutputItem(startingItem(item), output_index, context));
            const index = opened.size;
            opened.set(output_index, { index, type: start.type });
            if (start.type === "native") {
              held = { index, outputIndex: output_index, start };
            } else {
              yield { type: "item.start", index, item: start };
              announced += 1;
            }
          }
          continue;
        }
        if (type === "response.output_item.done") {
          const { output_index, item } = read(ItemEventSchema, json, type, context);
          const whole = toOutputItem(item, output_index, context);
          finished.set(output_index, whole);
          if (held?.outputIndex === output_index) {
            yield { type: "item.start", index: held.index, item: itemStart(whole) };
            announced += 1;
            held = null;
          }
          continue;
        }
        const delta = Object.hasOwn(DELTAS, type) ? DELTAS[type as keyof typeof DELTAS] : null;
        if (delta !== null) {
          const fields = read(DeltaEventSchema, json, type, context);
          const target = opened.get(fields.output_index);
          if (target === undefined || target.index !== opened.size - 1) {
            // The contract never goes back to an earlier item, and OpenAI streams items in order.
            const detail = `${type} for output item ${fields.output_index}, which is not the open item`;
            throw badAnswer(context, NOT_AN_EVENT, detail);
          }
          // A delta for an item the contract holds as native (a custom tool's input, say) is
          // not a contract delta; the item arrives whole with `done`.
          if (target.type === delta.item && fields.delta !== "") {
            const logprobs = fields.logprobs ?? [];
            yield delta.event === "text.delta" && logprobs.length > 0
              ? {
                  type: delta.event,
                  index: target.index,
                  text: fields.delta,
                  logprobs: toTokenLogprobs(logprobs),
                }
              : { type: delta.event, index: target.index, text: fields.delta };
          }
        }
      }
    }
  } finally {
    // Stops the body when we leave early (the terminal event before EOF, an error, the consumer
    // stopping).
    reader.cancel().catch(() => {});
  }
  if (generation === null) {
    throw streamClosedEarly(context);
  }
  if (generation.items.length < opened.size) {
    const detail = `its final response lists ${generation.items.length} output items after ${opened.size} were streamed`;
    throw badAnswer(context, NOT_AN_EVENT, detail);
  }
  // Items not announced yet (one held back, or ones the upstream put in its final response
  // without adding them): announced now, whole, so every item of `done` was started first.
  for (const [offset, item] of generation.items.slice(announced).entries()) {
    const index = announced + offset;
    for (const event of eventsOfGeneration({ ...generation, items: [item] })) {
      if (event.type !== "done") {
        yield { ...event, index };
      }
    }
  }
  yield { type: "done", generation };
}

/**
 * An `output_item.added` item is the item as it begins: a message with no content yet, a call
 * with empty arguments. Only its type and ids matter for item.start; filling the lists the
 * schemas need lets a sparse server's opening item pass.
 */
function startingItem(item: z.infer<typeof ItemEventSchema>["item"]) {
  if (item.type === "message") {
    return { content: [], ...item };
  }
  if (item.type === "function_call") {
    return { arguments: "", ...item };
  }
  return item;
}

function read<T>(schema: z.ZodType<T>, json: unknown, type: string, context: UpstreamContext): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw badAnswer(context, NOT_AN_EVENT, `${type}: ${describeIssue(parsed.error)}`);
  }
  return parsed.data;
}

/** The body ended before the terminal event: the answer is incomplete, maybe briefly. */
export function streamClosedEarly(context: UpstreamContext): BackendError {
  return new BackendError(
    `Upstream ${context.name} closed the stream early, before response.completed`,
    { status: null, retryable: true },
  );
}
