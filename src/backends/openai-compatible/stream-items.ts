import type {
  FinishReason,
  Generation,
  GenerationEvent,
  OutputItemStart,
  TokenLogprob,
  TokenUsage,
} from "../backend.js";
import { GenerationAssembler } from "../generation-events.js";

/**
 * Turns an upstream stream's fragments (reasoning, content, refusal, tool-call pieces by index)
 * into GenerationEvents that obey the contract's rules: items numbered in order, contiguous,
 * never revisited.
 *
 * Real servers send reasoning, then content, then the tool calls one after another, and all of
 * that streams live. A server that interleaves is held to the rules this way:
 * - Reasoning and message text are complete once anything else arrives. More of them later
 *   opens a new item of the same kind (a Responses output may hold several messages), placed
 *   after what came before it.
 * - A tool call is never assumed complete before the stream ends: fragments are keyed by
 *   `index`, so the protocol lets a server go back to an earlier call at any time. Once a call
 *   is the open item, whatever arrives for a later item (another call, text after a call) is
 *   held and flushed in order at the end. The price: with parallel calls, the events of the
 *   second and later calls come at the end of the stream instead of live (the first call and
 *   everything before it stream live).
 * - A call opens (`item.start` carries its id and name) only once its name has arrived; its
 *   arguments until then are held.
 */

type Delta =
  | { readonly type: "text.delta"; readonly text: string; readonly logprobs?: TokenLogprob[] }
  | { readonly type: "refusal.delta"; readonly text: string }
  | { readonly type: "arguments.delta"; readonly text: string }
  | { readonly type: "reasoning.delta"; readonly text: string };

type Kind = "reasoning" | "message" | "function_call";

interface PendingItem {
  readonly kind: Kind;
  /** For a call: known once its name has arrived. */
  start: OutputItemStart | null;
  callId: string | null;
  readonly held: Delta[];
  /** Its number once started (emitted), else null. */
  index: number | null;
}

/** What the reader knows of a tool-call fragment. */
export interface CallFragment {
  /** The server's `index`, or a number the reader gave a call without one. */
  readonly key: number;
  readonly id: string | null;
  readonly name: string | null;
  readonly arguments: string;
}

export class StreamItems {
  private readonly assembler = new GenerationAssembler();
  /** Every item, in output order; started ones first. */
  private readonly items: PendingItem[] = [];
  /** The item that text of each kind extends (until something else arrives after it). */
  private currentReasoning: PendingItem | null = null;
  private currentMessage: PendingItem | null = null;
  private readonly calls = new Map<number, PendingItem>();
  private readonly out: GenerationEvent[] = [];

  /**
   * @param fallbackCallId an id for a call the server sent none for, by its key.
   */
  constructor(private readonly fallbackCallId: (key: number) => string) {}

  get hasToolCalls(): boolean {
    return this.calls.size > 0;
  }

  /** A call whose name never came: `finish` would throw, so the reader reports it first. */
  get hasUnnamedCall(): boolean {
    return [...this.calls.values()].some((item) => item.start === null);
  }

  reasoning(text: string): GenerationEvent[] {
    if (text !== "") {
      this.currentReasoning = this.extend(this.currentReasoning, "reasoning", {
        type: "reasoning.delta",
        text,
      });
    }
    return this.drain();
  }

  text(text: string, logprobs: TokenLogprob[]): GenerationEvent[] {
    if (text !== "" || logprobs.length > 0) {
      const delta: Delta =
        logprobs.length > 0 ? { type: "text.delta", text, logprobs } : { type: "text.delta", text };
      this.currentMessage = this.extend(this.currentMessage, "message", delta);
    }
    return this.drain();
  }

  refusal(text: string): GenerationEvent[] {
    if (text !== "") {
      this.currentMessage = this.extend(this.currentMessage, "message", {
        type: "refusal.delta",
        text,
      });
    }
    return this.drain();
  }

  toolCall(fragment: CallFragment): GenerationEvent[] {
    let item = this.calls.get(fragment.key);
    if (item === undefined) {
      item = { kind: "function_call", start: null, callId: null, held: [], index: null };
      this.calls.set(fragment.key, item);
      this.add(item);
    }
    // Only the first id and name count: some servers repeat them on every fragment.
    if (item.callId === null && fragment.id !== null && fragment.id !== "") {
      item.callId = fragment.id;
    }
    if (item.start === null && fragment.name !== null && fragment.name !== "") {
      item.start = {
        type: "function_call",
        callId: item.callId ?? this.fallbackCallId(fragment.key),
        name: fragment.name,
      };
    }
    if (fragment.arguments !== "") {
      this.deliver(item, { type: "arguments.delta", text: fragment.arguments });
    }
    this.advance();
    return this.drain();
  }

  /** The events still held, in order, then `done`. Check `hasUnnamedCall` first. */
  finish(finishReason: FinishReason, usage: TokenUsage): GenerationEvent[] {
    for (const item of this.items) {
      if (item.index === null) {
        this.open(item);
      }
    }
    const generation: Generation = this.assembler.finish(finishReason, usage);
    this.emit({ type: "done", generation });
    return this.drain();
  }

  /** Adds `delta` to `current`, or to a new item of `kind` when `current` is complete. */
  private extend(
    current: PendingItem | null,
    kind: "reasoning" | "message",
    delta: Delta,
  ): PendingItem {
    let item = current;
    if (item === null || this.isComplete(item)) {
      item = { kind, start: { type: kind }, callId: null, held: [], index: null };
      this.add(item);
    }
    this.deliver(item, delta);
    this.advance();
    return item;
  }

  private add(item: PendingItem): void {
    this.items.push(item);
  }

  /** A text item is complete once an item after it exists; a call only at the end. */
  private isComplete(item: PendingItem): boolean {
    return item.kind !== "function_call" && this.items.at(-1) !== item;
  }

  private deliver(item: PendingItem, delta: Delta): void {
    if (item.index !== null) {
      this.emit({ ...delta, index: item.index });
    } else {
      item.held.push(delta);
    }
  }

  /**
   * Starts held items while the open item allows: when there is no open item yet, or the open
   * one is text that something later has already followed.
   */
  private advance(): void {
    for (;;) {
      const next = this.items.find((item) => item.index === null);
      if (next === undefined || next.start === null) {
        return;
      }
      // Started items are a prefix of `items`.
      const open = this.items[this.assembler.itemCount - 1];
      if (open !== undefined && !this.isComplete(open)) {
        return;
      }
      this.open(next);
    }
  }

  private open(item: PendingItem): void {
    if (item.start === null) {
      throw new Error("StreamItems: a tool call without a name cannot start");
    }
    item.index = this.assembler.itemCount;
    this.emit({ type: "item.start", index: item.index, item: item.start });
    for (const delta of item.held.splice(0)) {
      this.emit({ ...delta, index: item.index });
    }
  }

  private emit(event: GenerationEvent): void {
    if (event.type !== "done") {
      this.assembler.push(event);
    }
    this.out.push(event);
  }

  private drain(): GenerationEvent[] {
    return this.out.splice(0);
  }
}
