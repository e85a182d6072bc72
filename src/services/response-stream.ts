import type { Generation, GenerationEvent, OutputItemStart } from "../backends/backend.js";
import type { ResponseStreamEvent } from "../contract/response-object.js";
import { coerceError } from "../lib/coerce-error.js";
import type { ResponseState } from "./response-object.js";
import { statusForFinish, toResponseObject } from "./response-object.js";
import {
  functionCallItem,
  type ItemStatus,
  idFor,
  outputItem,
  outputTextPart,
  type ResponseOutputItem,
  reasoningItem,
  wireLogprob,
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
  /** include: ["message.output_text.logprobs"] was asked for. */
  readonly includeLogprobs: boolean;
  /** The final state, given the generation and the output items the stream built. */
  finish(state: ResponseState, generation: Generation, output: ResponseOutputItem[]): ResponseState;
  fail(state: ResponseState, err: Error): ResponseState;
  /** Called with the final state before the terminal event is sent, so a GET right after finds it. */
  onEnd(state: ResponseState): void;
}

type PartKind = "output_text" | "refusal" | "reasoning_text";

/** The item being streamed: its wire form so far and its open content part. */
interface OpenItem {
  readonly outputIndex: number;
  readonly id: string;
  readonly start: OutputItemStart;
  readonly parts: { kind: PartKind; text: string; logprobs: unknown[] }[];
  arguments: string;
}

/**
 * The Responses API event sequence for a generation, as OpenAI sends it: created, in_progress,
 * then per output item `output_item.added`, its content (`content_part.added`,
 * `output_text.delta`… / `refusal.delta`… / `reasoning_text.delta`…, their `.done`,
 * `content_part.done`; or `function_call_arguments.delta`… and `.done` for a call), and
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
  const done: ResponseOutputItem[] = [];
  let open: OpenItem | null = null;

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
        return reasoningItem(item.id, item.parts.map((part) => part.text).join(""), [], null);
      case "native":
        return { ...item.start.native } as ResponseOutputItem;
    }
  }

  function wirePart(part: OpenItem["parts"][number]): Record<string, unknown> {
    switch (part.kind) {
      case "refusal":
        return { type: "refusal", refusal: part.text };
      case "reasoning_text":
        return { type: "reasoning_text", text: part.text };
      case "output_text":
        return { ...outputTextPart(part.text), logprobs: part.logprobs };
    }
  }

  /** The events that close the open item's last content part. */
  function* closePart(item: OpenItem): Generator<ResponseStreamEvent> {
    const part = item.parts.at(-1);
    if (part === undefined) {
      return;
    }
    const at = {
      item_id: item.id,
      output_index: item.outputIndex,
      content_index: item.parts.length - 1,
    };
    if (part.kind === "output_text") {
      yield event("response.output_text.done", { ...at, text: part.text, logprobs: part.logprobs });
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

  /** Opens a content part of `kind` on the open item unless its last part is one. */
  function* ensurePart(item: OpenItem, kind: PartKind): Generator<ResponseStreamEvent> {
    if (item.parts.at(-1)?.kind === kind) {
      return;
    }
    yield* closePart(item);
    item.parts.push({ kind, text: "", logprobs: [] });
    yield event("response.content_part.added", {
      item_id: item.id,
      output_index: item.outputIndex,
      content_index: item.parts.length - 1,
      part: wirePart({ kind, text: "", logprobs: [] }),
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
          const status: ItemStatus = statusForFinish(generated.generation.finishReason);
          if (open !== null) {
            const last = generated.generation.items[open.outputIndex];
            const nativeFinal =
              last?.native !== undefined || last?.type === "native"
                ? outputItem(last, open.id, status, options.includeLogprobs)
                : null;
            yield* closeItem(open, status, nativeFinal);
            open = null;
          }
          final = options.finish(options.initial, generated.generation, [...done]);
        } else if (generated.type === "item.start") {
          if (open !== null) {
            yield* closeItem(open, "completed", null);
          }
          const start = generated.item;
          const id = idFor({
            type: start.type,
            native: start.type === "native" ? start.native : undefined,
          });
          open = { outputIndex: generated.index, id, start, parts: [], arguments: "" };
          yield event("response.output_item.added", {
            output_index: open.outputIndex,
            item: wireItem(open, "in_progress"),
          });
        } else if (open !== null) {
          const at = { item_id: open.id, output_index: open.outputIndex };
          switch (generated.type) {
            case "text.delta": {
              yield* ensurePart(open, "output_text");
              const part = open.parts.at(-1);
              const logprobs =
                options.includeLogprobs && generated.logprobs !== undefined
                  ? generated.logprobs.map(wireLogprob)
                  : [];
              if (part !== undefined) {
                part.text += generated.text;
                part.logprobs.push(...logprobs);
              }
              yield event("response.output_text.delta", {
                ...at,
                content_index: open.parts.length - 1,
                delta: generated.text,
                logprobs,
              });
              break;
            }
            case "refusal.delta": {
              yield* ensurePart(open, "refusal");
              const part = open.parts.at(-1);
              if (part !== undefined) {
                part.text += generated.text;
              }
              yield event("response.refusal.delta", {
                ...at,
                content_index: open.parts.length - 1,
                delta: generated.text,
              });
              break;
            }
            case "reasoning.delta": {
              yield* ensurePart(open, "reasoning_text");
              const part = open.parts.at(-1);
              if (part !== undefined) {
                part.text += generated.text;
              }
              yield event("response.reasoning_text.delta", {
                ...at,
                content_index: open.parts.length - 1,
                delta: generated.text,
              });
              break;
            }
            case "arguments.delta":
              open.arguments += generated.text;
              yield event("response.function_call_arguments.delta", {
                ...at,
                delta: generated.text,
              });
              break;
          }
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
      const partial = open === null ? done : [...done, wireItem(open, "incomplete")];
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
