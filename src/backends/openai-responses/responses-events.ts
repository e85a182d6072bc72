import { z } from "zod";
import { BackendError } from "../backend.js";
import { eventsOfGeneration, itemStart } from "../generation-events.js";
import type {
  Generation,
  GenerationEvent,
  OutputItem,
  OutputItemStart,
} from "../model-contract.js";
import {
  badAnswer,
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

export const NOT_AN_EVENT = "an OpenAI Responses stream event";

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

export interface ResponsesEventMapper {
  /** The contract events for one upstream event (parsed JSON); throws for failed and error. */
  map(json: unknown): GenerationEvent[];
  /** Whether the terminal event has been mapped (its events end with `done`). */
  readonly isFinished: boolean;
}

/**
 * Turns the Responses API's stream events into GenerationEvents, one upstream event at a time:
 * `response.output_item.added` opens an item, the text, refusal, arguments and reasoning-text
 * deltas extend it, and `response.completed` or `response.incomplete` ends the stream with
 * `done`, whose generation is built from that event's Response, so every item arrives whole
 * (encrypted reasoning, a search call's results). A `native` item (a type only the Responses API
 * has, such as web_search_call) is announced once `response.output_item.done` has it whole.
 * Events the contract has no place for (content_part.*, *.done, a search's progress,
 * annotations, reasoning summary deltas) are read past: their content is in the final Response.
 * `response.failed` and `error` throw a BackendError.
 */
export function createResponsesEventMapper(context: UpstreamContext): ResponsesEventMapper {
  // The upstream's output_index -> the contract's item index and type.
  const opened = new Map<number, { index: number; type: OutputItemStart["type"] }>();
  // Whole items from output_item.done, for an upstream whose final Response lists no output.
  const finished = new Map<number, OutputItem>();
  // A native item's start, held back until the item is done, so it is announced whole (a
  // search call with its query and sources): the contract has no deltas for it, so nothing is
  // lost by the wait, and its item.start is all a consumer gets of it before `done`.
  let held: { index: number; outputIndex: number; start: OutputItemStart } | null = null;
  // How many items have had their item.start.
  let announced = 0;
  let isFinished = false;

  function announceHeld(start: OutputItemStart): GenerationEvent[] {
    if (held === null) {
      return [];
    }
    const event: GenerationEvent = { type: "item.start", index: held.index, item: start };
    announced += 1;
    held = null;
    return [event];
  }

  function opening(json: unknown): GenerationEvent[] {
    const { output_index, item } = read(ItemEventSchema, json, "response.output_item.added");
    if (opened.has(output_index)) {
      return [];
    }
    // A held item never done before the next began is announced as it began.
    const events = held === null ? [] : announceHeld(held.start);
    const start = itemStart(toOutputItem(startingItem(item), output_index, context));
    const index = opened.size;
    opened.set(output_index, { index, type: start.type });
    if (start.type === "native") {
      held = { index, outputIndex: output_index, start };
      return events;
    }
    announced += 1;
    return [...events, { type: "item.start", index, item: start }];
  }

  function closing(json: unknown): GenerationEvent[] {
    const { output_index, item } = read(ItemEventSchema, json, "response.output_item.done");
    const whole = toOutputItem(item, output_index, context);
    finished.set(output_index, whole);
    return held?.outputIndex === output_index ? announceHeld(itemStart(whole)) : [];
  }

  function delta(json: unknown, type: keyof typeof DELTAS): GenerationEvent[] {
    const fields = read(DeltaEventSchema, json, type);
    const target = opened.get(fields.output_index);
    if (target === undefined || target.index !== opened.size - 1) {
      // The contract never goes back to an earlier item, and OpenAI streams items in order.
      const detail = `${type} for output item ${fields.output_index}, which is not the open item`;
      throw badAnswer(context, NOT_AN_EVENT, detail);
    }
    const { event, item } = DELTAS[type];
    // A delta for an item the contract holds as native (a custom tool's input, say) is not a
    // contract delta; the item arrives whole with `done`.
    if (target.type !== item || fields.delta === "") {
      return [];
    }
    const logprobs = fields.logprobs ?? [];
    return [
      event === "text.delta" && logprobs.length > 0
        ? {
            type: event,
            index: target.index,
            text: fields.delta,
            logprobs: toTokenLogprobs(logprobs),
          }
        : { type: event, index: target.index, text: fields.delta },
    ];
  }

  function terminal(json: unknown, type: string): GenerationEvent[] {
    const { response } = read(TerminalEventSchema, json, type);
    let generation: Generation = toGeneration(response, context);
    if (generation.items.length === 0 && finished.size > 0) {
      const items = [...finished.entries()].sort(([a], [b]) => a - b).map(([, item]) => item);
      generation = { ...generation, items };
    }
    if (generation.items.length < opened.size) {
      const detail =
        `its final response lists ${generation.items.length} output items after ` +
        `${opened.size} were streamed`;
      throw badAnswer(context, NOT_AN_EVENT, detail);
    }
    isFinished = true;
    // Items not announced yet (one held back, or ones the upstream put in its final response
    // without adding them): announced now, whole, so every item of `done` was started first.
    const events: GenerationEvent[] = [];
    for (const [offset, item] of generation.items.slice(announced).entries()) {
      const index = announced + offset;
      for (const event of eventsOfGeneration({ ...generation, items: [item] })) {
        if (event.type !== "done") {
          events.push({ ...event, index });
        }
      }
    }
    events.push({ type: "done", generation });
    return events;
  }

  function read<T>(schema: z.ZodType<T>, json: unknown, type: string): T {
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw badAnswer(context, NOT_AN_EVENT, `${type}: ${describeIssue(parsed.error)}`);
    }
    return parsed.data;
  }

  return {
    get isFinished() {
      return isFinished;
    },

    map(json) {
      if (isFinished) {
        return [];
      }
      const type = read(EventSchema, json, "an event").type;
      switch (type) {
        case "error": {
          const fields = read(ErrorEventSchema, json, type);
          throw streamErrorFrame(context, { error: { ...fields, message: fields.message ?? "" } });
        }
        case "response.failed":
          throw failedResponseError(read(TerminalEventSchema, json, type).response, context);
        case "response.completed":
        case "response.incomplete":
          return terminal(json, type);
        case "response.output_item.added":
          return opening(json);
        case "response.output_item.done":
          return closing(json);
        default:
          return Object.hasOwn(DELTAS, type) ? delta(json, type as keyof typeof DELTAS) : [];
      }
    },
  };
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

/** The body ended before the terminal event: the answer is incomplete, maybe briefly. */
export function streamClosedEarly(context: UpstreamContext): BackendError {
  return new BackendError(
    `Upstream ${context.name} closed the stream early, before response.completed`,
    { status: null, retryable: true },
  );
}
