/** A parsed Responses stream event: its type, its number and the rest of its fields. */
export interface StreamEvent {
  type: string;
  sequence_number: number;
  delta?: string;
  response?: { id: string; status: string; output: { content?: { text: string }[] }[] };
  [key: string]: unknown;
}

/**
 * Reads the events of an SSE body one at a time, as a client does, so a test can act in the
 * middle of a stream (cancel it, crash the server) once it has seen a given event.
 */
export function readSseEvents(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  const seen: StreamEvent[] = [];
  async function next(): Promise<StreamEvent | null> {
    for (;;) {
      const end = buffered.indexOf("\n\n");
      if (end !== -1) {
        const frame = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = frame
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (data === "") {
          continue;
        }
        const event = JSON.parse(data) as StreamEvent;
        seen.push(event);
        return event;
      }
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch {
        return null; // the connection went away (a killed server)
      }
      if (chunk.done) {
        return null;
      }
      buffered += decoder.decode(chunk.value, { stream: true });
    }
  }
  return {
    seen,
    next,
    /** Reads until `stop` says so (returns that event) or the stream ends (returns null). */
    async until(stop: (event: StreamEvent) => boolean): Promise<StreamEvent | null> {
      for (;;) {
        const event = await next();
        if (event === null || stop(event)) {
          return event;
        }
      }
    },
    /** Reads to the end; returns every event seen, from the first. */
    async rest(): Promise<StreamEvent[]> {
      while ((await next()) !== null) {}
      return seen;
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

/** The text a client assembles: deltas, started afresh at every response.in_progress. */
export function assembleText(events: readonly StreamEvent[]): string {
  let text = "";
  for (const event of events) {
    if (event.type === "response.in_progress") {
      text = "";
    } else if (event.type === "response.output_text.delta") {
      text += event.delta ?? "";
    }
  }
  return text;
}
