import type {
  FinishReason,
  Generation,
  GenerationEvent,
  OutputItem,
  OutputItemStart,
  OutputPart,
  TokenLogprob,
  TokenUsage,
} from "./model-contract.js";

/**
 * Building a Generation from stream events, and the events of a whole Generation: the two
 * directions every backend (and the surfaces) need, written once so all agree on the rules of
 * GenerationEvent (items numbered in order, contiguous, never revisited).
 */

interface OpenMessage {
  type: "message";
  parts: { type: "text" | "refusal"; text: string; logprobs: TokenLogprob[] | null }[];
}

type OpenItem =
  | OpenMessage
  | { type: "function_call"; callId: string; name: string; arguments: string }
  | { type: "reasoning"; text: string }
  | { type: "native"; native: Readonly<Record<string, unknown>> };

/**
 * Accumulates deltas into items. `push` checks the ordering rules and throws on a violation
 * (a backend bug, never client input).
 */
export class GenerationAssembler {
  private readonly items: OpenItem[] = [];

  /** The number of items started so far. */
  get itemCount(): number {
    return this.items.length;
  }

  push(event: Exclude<GenerationEvent, { type: "done" }>): void {
    if (event.type === "item.start") {
      if (event.index !== this.items.length) {
        throw new Error(`item ${event.index} started out of order (expected ${this.items.length})`);
      }
      this.items.push(openItem(event.item));
      return;
    }
    const item = this.items[event.index];
    if (item === undefined || event.index !== this.items.length - 1) {
      throw new Error(`${event.type} for item ${event.index}, which is not the open item`);
    }
    switch (event.type) {
      case "text.delta":
      case "refusal.delta": {
        if (item.type !== "message") {
          throw new Error(`${event.type} for a ${item.type} item`);
        }
        const kind = event.type === "text.delta" ? "text" : "refusal";
        let part = item.parts.at(-1);
        if (part === undefined || part.type !== kind) {
          part = { type: kind, text: "", logprobs: null };
          item.parts.push(part);
        }
        part.text += event.text;
        if (event.type === "text.delta" && event.logprobs !== undefined) {
          part.logprobs = [...(part.logprobs ?? []), ...event.logprobs];
        }
        return;
      }
      case "arguments.delta":
        if (item.type !== "function_call") {
          throw new Error(`arguments.delta for a ${item.type} item`);
        }
        item.arguments += event.text;
        return;
      case "reasoning.delta":
        if (item.type !== "reasoning") {
          throw new Error(`reasoning.delta for a ${item.type} item`);
        }
        item.text += event.text;
        return;
    }
  }

  finish(finishReason: FinishReason, usage: TokenUsage): Generation {
    return { items: this.items.map(closeItem), finishReason, usage };
  }
}

function openItem(start: OutputItemStart): OpenItem {
  switch (start.type) {
    case "message":
      return { type: "message", parts: [] };
    case "function_call":
      return { type: "function_call", callId: start.callId, name: start.name, arguments: "" };
    case "reasoning":
      return { type: "reasoning", text: "" };
    case "native":
      return { type: "native", native: start.native };
  }
}

function closeItem(item: OpenItem): OutputItem {
  switch (item.type) {
    case "message":
      return {
        type: "message",
        parts: item.parts.map(
          (part): OutputPart =>
            part.type === "refusal"
              ? { type: "refusal", refusal: part.text }
              : part.logprobs === null
                ? { type: "text", text: part.text }
                : { type: "text", text: part.text, logprobs: part.logprobs },
        ),
      };
    case "reasoning":
      return { type: "reasoning", text: item.text, summary: [], encryptedContent: null };
    default:
      return item;
  }
}

/**
 * The events of a whole generation, one delta per part (a backend that has the answer at once:
 * a server that ignored `stream: true`). The mock paces its own deltas instead.
 */
export function* eventsOfGeneration(generation: Generation): Generator<GenerationEvent> {
  for (const [index, item] of generation.items.entries()) {
    yield { type: "item.start", index, item: itemStart(item) };
    switch (item.type) {
      case "message":
        for (const part of item.parts) {
          if (part.type === "text") {
            yield {
              type: "text.delta",
              index,
              text: part.text,
              ...(part.logprobs === undefined ? {} : { logprobs: part.logprobs }),
            };
          } else {
            yield { type: "refusal.delta", index, text: part.refusal };
          }
        }
        break;
      case "function_call":
        if (item.arguments !== "") {
          yield { type: "arguments.delta", index, text: item.arguments };
        }
        break;
      case "reasoning":
        if (item.text !== "") {
          yield { type: "reasoning.delta", index, text: item.text };
        }
        break;
      case "native":
        break;
    }
  }
  yield { type: "done", generation };
}

/** What `item.start` announces for an item. */
export function itemStart(item: OutputItem): OutputItemStart {
  switch (item.type) {
    case "message":
      return { type: "message" };
    case "function_call":
      return { type: "function_call", callId: item.callId, name: item.name };
    case "reasoning":
      return { type: "reasoning" };
    case "native":
      return { type: "native", native: item.native };
  }
}

/** A generation of one text message: what plain-text backends and tests produce. */
export function textGeneration(
  text: string,
  finishReason: FinishReason,
  usage: TokenUsage,
): Generation {
  return { items: [{ type: "message", parts: [{ type: "text", text }] }], finishReason, usage };
}
