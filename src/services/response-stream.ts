import type { Generation, GenerationEvent, OutputItemStart } from "../backends/backend.js";
import { eventsOfGeneration } from "../backends/generation-events.js";
import type { ResponseStreamEvent } from "../contract/response-object.js";
import { coerceError } from "../lib/coerce-error.js";
import type { ResponseState } from "./response-object.js";
import { statusForFinish, toResponseObject } from "./response-object.js";
import {
  functionCallItem,
  type ItemStatus,
  idFor,
  type LogprobsOutput,
  outputItem,
  outputTextPart,
  type ResponseOutputItem,
  reasoningItem,
  summaryWanted,
  type WireLogprob,
  wireLogprobs,
} from "./response-output.js";

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
  readonly signal: AbortSignal;
  /** include: ["message.output_text.logprobs"] was asked for (and how many alternatives). */
  readonly logprobs: LogprobsOutput;
  /** The final state, given the generation and the output items the stream built. */
  finish(state: ResponseState, generation: Generation, output: ResponseOutputItem[]): ResponseState;
  fail(state: ResponseState, err: Error): ResponseState;
  /** Called with the final state before the terminal event is sent, so a GET right after finds it. */
  onEnd(state: ResponseState): void;
}

type PartKind = "output_text" | "refusal" | "reasoning_text" | "summary_text";

interface OpenPart {
  readonly kind: PartKind;
  text: string;
  readonly logprobs: WireLogprob[];
}

/** The item being streamed: its wire form so far and its open content part. */
interface OpenItem {
  readonly outputIndex: number;
  readonly id: string;
  readonly start: OutputItemStart;
  readonly parts: OpenPart[];
  arguments: string;
}

/**
 * The Responses API event sequence for a generation, as OpenAI sends it: created, in_progress,
 * then per output item `output_item.added`, its content (`content_part.added`,
 * `output_text.delta`… / `refusal.delta`… / `reasoning_text.delta`…, their `.done`,
 * `content_part.done`; or `function_call_arguments.delta`… and `.done` for a call; or, when
 * the request asked for a reasoning summary, a reasoning item's text as its summary:
 * `reasoning_summary_part.added`, `reasoning_summary_text.delta`…, `.done`,
 * `reasoning_summary_part.done`), and
 * `output_item.done`; then completed or incomplete (or failed when the backend breaks mid-way).
 * `sequence_number` counts from 0 and every event type is one the SDK's stream helper knows; it
 * throws on invented ones.
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
  const responseId = options.initial.id;
  // Reasoning text is shown as the summary when one was asked for (see reasoningItem).
  const summary = summaryWanted(options.initial.params);
  const done: ResponseOutputItem[] = [];
  let open: OpenItem | null = null;
  // Items started so far: those at or after it in `done` were never streamed.
  let started = 0;

  function wireItem(item: OpenItem, status: ItemStatus): ResponseOutputItem {
    switch (item.start.type) {
      case "message":
        return {
          type: "message",
          id: item.id,
          role: "assistant",
          status,
          content: item.parts.map((part) => wirePart(part)),
        };
      case "function_call":
        return functionCallItem(
          item.id,
          item.start.callId,
          item.start.name,
          item.arguments,
          status,
        );
      case "reasoning":
        return reasoningItem(
          item.id,
          item.parts
            .filter((part) => part.kind === "reasoning_text")
            .map((part) => part.text)
            .join(""),
          item.parts.filter((part) => part.kind === "summary_text").map((part) => part.text),
          null,
        );
      case "native":
        return { ...item.start.native } as ResponseOutputItem;
    }
  }

  function wirePart(part: OpenPart): Record<string, unknown> {
    switch (part.kind) {
      case "refusal":
        return { type: "refusal", refusal: part.text };
      case "reasoning_text":
        return { type: "reasoning_text", text: part.text };
      case "summary_text":
        return { type: "summary_text", text: part.text };
      case "output_text":
        // A copy: the part keeps growing, and a background run's events are stored later.
        return outputTextPart(part.text, [...part.logprobs]);
    }
  }

  /** The events that close the open item's last content part. */
  function* closePart(item: OpenItem): Generator<ResponseStreamEvent> {
    const part = item.parts.at(-1);
    if (part === undefined) {
      return;
    }
    if (part.kind === "summary_text") {
      const at = {
        item_id: item.id,
        output_index: item.outputIndex,
        summary_index: item.parts.length - 1,
      };
      yield event("response.reasoning_summary_text.done", { ...at, text: part.text });
      yield event("response.reasoning_summary_part.done", { ...at, part: wirePart(part) });
      return;
    }
    const at = {
      item_id: item.id,
      output_index: item.outputIndex,
      content_index: item.parts.length - 1,
    };
    if (part.kind === "output_text") {
      yield event("response.output_text.done", {
        ...at,
        text: part.text,
        logprobs: [...part.logprobs],
      });
    } else if (part.kind === "refusal") {
      yield event("response.refusal.done", { ...at, refusal: part.text });
    } else {
      yield event("response.reasoning_text.done", { ...at, text: part.text });
    }
    yield event("response.content_part.done", { ...at, part: wirePart(part) });
  }

  /** The events that close the open item; `final` is the item as the generation has it. */
  function* closeItem(
    item: OpenItem,
    status: ItemStatus,
    final: ResponseOutputItem | null,
  ): Generator<ResponseStreamEvent> {
    yield* closePart(item);
    if (item.start.type === "function_call") {
      yield event("response.function_call_arguments.done", {
        item_id: item.id,
        output_index: item.outputIndex,
        name: item.start.name,
        arguments: item.arguments,
      });
    }
    const wire = final ?? wireItem(item, status);
    done.push(wire);
    yield event("response.output_item.done", { output_index: item.outputIndex, item: wire });
  }

  /** The open item's last content part, opened first unless it is one of `kind`. */
  function* ensurePart(item: OpenItem, kind: PartKind): Generator<ResponseStreamEvent, OpenPart> {
    const last = item.parts.at(-1);
    if (last?.kind === kind) {
      return last;
    }
    yield* closePart(item);
    const part: OpenPart = { kind, text: "", logprobs: [] };
    item.parts.push(part);
    const index = item.parts.length - 1;
    yield kind === "summary_text"
      ? event("response.reasoning_summary_part.added", {
          item_id: item.id,
          output_index: item.outputIndex,
          summary_index: index,
          part: wirePart(part),
        })
      : event("response.content_part.added", {
          item_id: item.id,
          output_index: item.outputIndex,
          content_index: index,
          part: wirePart(part),
        });
    return part;
  }

  /** The events of one backend event other than `done`. */
  function* handle(
    generated: Exclude<GenerationEvent, { type: "done" }>,
  ): Generator<ResponseStreamEvent> {
    if (generated.type === "item.start") {
      if (open !== null) {
        yield* closeItem(open, "completed", null);
      }
      const start = generated.item;
      const id = idFor(
        { type: start.type, native: start.type === "native" ? start.native : undefined },
        responseId,
        generated.index,
      );
      open = { outputIndex: generated.index, id, start, parts: [], arguments: "" };
      started = generated.index + 1;
      yield event("response.output_item.added", {
        output_index: open.outputIndex,
        item: wireItem(open, "in_progress"),
      });
      return;
    }
    if (open === null || open.outputIndex !== generated.index) {
      // The assembler rules (generation-events.ts) forbid this; a backend bug, not the client's.
      throw new Error(`${generated.type} for item ${generated.index}, which is not the open item`);
    }
    const at = { item_id: open.id, output_index: open.outputIndex };
    switch (generated.type) {
      case "text.delta": {
        const part = yield* ensurePart(open, "output_text");
        const logprobs = wireLogprobs(generated.logprobs, options.logprobs);
        part.text += generated.text;
        part.logprobs.push(...logprobs);
        yield event("response.output_text.delta", {
          ...at,
          content_index: open.parts.length - 1,
          delta: generated.text,
          logprobs,
        });
        return;
      }
      case "refusal.delta": {
        const part = yield* ensurePart(open, "refusal");
        part.text += generated.text;
        yield event("response.refusal.delta", {
          ...at,
          content_index: open.parts.length - 1,
          delta: generated.text,
        });
        return;
      }
      case "reasoning.delta": {
        const part = yield* ensurePart(open, summary ? "summary_text" : "reasoning_text");
        part.text += generated.text;
        yield summary
          ? event("response.reasoning_summary_text.delta", {
              ...at,
              summary_index: open.parts.length - 1,
              delta: generated.text,
            })
          : event("response.reasoning_text.delta", {
              ...at,
              content_index: open.parts.length - 1,
              delta: generated.text,
            });
        return;
      }
      case "arguments.delta":
        open.arguments += generated.text;
        yield event("response.function_call_arguments.delta", { ...at, delta: generated.text });
        return;
    }
  }

  /**
   * The events that end the output: items the backend put only in `done` (a native item, or a
   * backend that answered at once) are streamed from it, then the last item is closed. A native
   * or reasoning item closes as the generation has it (its id, summary, encrypted content).
   */
  function* finishWith(generation: Generation): Generator<ResponseStreamEvent> {
    const firstMissed = started;
    for (const missed of eventsOfGeneration(generation)) {
      if (missed.type !== "done" && missed.index >= firstMissed) {
        yield* handle(missed);
      }
    }
    const status: ItemStatus = statusForFinish(generation.finishReason);
    if (open !== null) {
      const last = generation.items[open.outputIndex];
      const fromGeneration =
        last !== undefined &&
        (last.native !== undefined || last.type === "native" || last.type === "reasoning")
          ? outputItem(last, open.id, status, options.logprobs, summary)
          : null;
      yield* closeItem(open, status, fromGeneration);
      open = null;
    }
  }

  /**
   * The output as the stream built it, except that an item a native Responses upstream
   * returned is kept exactly as it came in `done` (its id, encrypted reasoning, a summary the
   * stream had no deltas for): the next turn sends it back to that upstream.
   */
  function finalOutput(generation: Generation): ResponseOutputItem[] {
    const status: ItemStatus = statusForFinish(generation.finishReason);
    return done.map((wire, index) => {
      const item = generation.items[index];
      return item?.native === undefined
        ? wire
        : outputItem(item, String(wire.id), status, options.logprobs);
    });
  }

  // Whenever the reader stops (it went away, or stopped reading), even at the opening events,
  // the backend's stream is returned: that is what ends its call and frees its slot.
  try {
    for (const type of options.opening ?? ["response.created", "response.in_progress"]) {
      yield event(type, { response: toResponseObject(options.initial) });
    }
    let final: ResponseState | null = null;
    let result = options.first;
    try {
      while (!result.done) {
        const generated = result.value;
        if (generated.type === "done") {
          yield* finishWith(generated.generation);
          final = options.finish(
            options.initial,
            generated.generation,
            finalOutput(generated.generation),
          );
        } else if (final === null) {
          yield* handle(generated);
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
      const current = open as OpenItem | null;
      const partial = current === null ? done : [...done, wireItem(current, "incomplete")];
      const failed = options.fail({ ...options.initial, output: partial }, coerceError(thrown));
      options.onEnd(failed);
      yield event("response.failed", { response: toResponseObject(failed) });
      return;
    }
    options.onEnd(final);
    const terminal = final.status === "incomplete" ? "response.incomplete" : "response.completed";
    yield event(terminal, { response: toResponseObject(final) });
  } finally {
    await options.generation.return?.();
  }
}
