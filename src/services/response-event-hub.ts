import type { ResponseStreamEvent } from "../contract/response-object.js";

/**
 * Live event channels of streamed background responses, in this process. While a response runs,
 * its channel holds every event so far (so a late or resuming reader replays from memory, with
 * no gap between what is stored and what is live); when the response ends, the channel is closed
 * after its events were committed to the database, which then serves any later reader.
 * With several processes this becomes a notifier over the database (LISTEN/NOTIFY).
 */
export interface EventChannel {
  readonly events: ResponseStreamEvent[];
  /** After the channel's last event (numbers may skip: a re-run goes on after a lost run's). */
  nextSequenceNumber(): number;
}

type Listener = { onEvent(event: ResponseStreamEvent): void; onEnd(): void };

export interface ResponseEventHub {
  /** The channel of a response, opened with `load()` (its stored events) if not open yet. */
  ensure(responseId: string, load: () => ResponseStreamEvent[]): EventChannel;
  publish(responseId: string, event: ResponseStreamEvent): void;
  /** Ends the channel: listeners are told, and memory is freed. */
  close(responseId: string): void;
  /**
   * Replays the channel's events after `startingAfter` and follows it live. Returns null when
   * no channel is open (the response is not running here): read the database instead.
   */
  follow(responseId: string, startingAfter: number, listener: Listener): (() => void) | null;
  isOpen(responseId: string): boolean;
  /** After the last event of the response's open channel; 0 when none is open. */
  nextSequenceNumber(responseId: string): number;
  /** Ends every channel (shutdown): readers finish their streams; they can resume elsewhere. */
  closeAll(): void;
}

export function createResponseEventHub(): ResponseEventHub {
  const channels = new Map<string, { events: ResponseStreamEvent[]; listeners: Set<Listener> }>();
  return {
    ensure(responseId, load) {
      let channel = channels.get(responseId);
      if (channel === undefined) {
        channel = { events: load(), listeners: new Set() };
        channels.set(responseId, channel);
      }
      const events = channel.events;
      return { events, nextSequenceNumber: () => nextAfter(events) };
    },
    publish(responseId, event) {
      const channel = channels.get(responseId);
      if (channel === undefined) {
        return;
      }
      channel.events.push(event);
      for (const listener of channel.listeners) {
        listener.onEvent(event);
      }
    },
    close(responseId) {
      const channel = channels.get(responseId);
      if (channel === undefined) {
        return;
      }
      channels.delete(responseId);
      for (const listener of channel.listeners) {
        listener.onEnd();
      }
    },
    follow(responseId, startingAfter, listener) {
      const channel = channels.get(responseId);
      if (channel === undefined) {
        return null;
      }
      for (const event of channel.events) {
        if (event.sequence_number > startingAfter) {
          listener.onEvent(event);
        }
      }
      channel.listeners.add(listener);
      return () => channel.listeners.delete(listener);
    },
    isOpen: (responseId) => channels.has(responseId),
    nextSequenceNumber(responseId) {
      const channel = channels.get(responseId);
      return channel === undefined ? 0 : nextAfter(channel.events);
    },
    closeAll() {
      for (const responseId of [...channels.keys()]) {
        this.close(responseId);
      }
    },
  };
}

function nextAfter(events: readonly ResponseStreamEvent[]): number {
  return (events.at(-1)?.sequence_number ?? -1) + 1;
}
