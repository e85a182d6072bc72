import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, parseSseFrames, type TestContext } from "../helpers/test-app.js";
import { readSseEvents, type StreamEvent } from "./sse-reader.js";

/**
 * A streamed background response that is cancelled ends its stream, live and replayed, with a
 * terminal event the SDK knows (response.incomplete) carrying the cancelled Response, numbered
 * after everything sent before it.
 */

let t: TestContext;
beforeEach(() => {
  // Slow tokens, so the cancel lands mid-stream.
  t = createTestContext({ config: { mock: { tokensPerSecond: 50 } } });
});
afterEach(() => t.close());

async function createStreamed() {
  const res = await t.post("/v1/responses", {
    model: "m",
    input: "tell me about tides",
    background: true,
    stream: true,
  });
  expect(res.status).toBe(200);
  if (res.body === null) {
    throw new Error("no body");
  }
  const live = readSseEvents(res.body);
  const created = await live.next();
  const id = created?.response?.id ?? "";
  expect(id).toMatch(/^resp_/);
  return { id, live };
}

async function replay(id: string, startingAfter?: number): Promise<StreamEvent[]> {
  const query = startingAfter === undefined ? "" : `&starting_after=${startingAfter}`;
  const res = await t.get(`/v1/responses/${id}?stream=true${query}`);
  expect(res.status).toBe(200);
  return parseSseFrames(await res.text()).map((frame) => JSON.parse(frame.data) as StreamEvent);
}

function expectEndsCancelled(events: readonly StreamEvent[], retrieved: unknown) {
  const last = events.at(-1);
  expect(last?.type).toBe("response.incomplete");
  expect(last?.response?.status).toBe("cancelled");
  expect(last?.response).toEqual(retrieved);
  expectMatchesComponent("ResponseStreamEvent", last);
  const numbers = events.map((event) => event.sequence_number);
  expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
  expect(new Set(numbers).size).toBe(numbers.length);
}

describe("cancelling a streamed background response", () => {
  it("ends the live stream and its replay with response.incomplete, status cancelled", async () => {
    t.services.executor.start();
    const { id, live } = await createStreamed();
    await live.until((event) => event.type === "response.output_text.delta");
    const cancelled = await t.post(`/v1/responses/${id}/cancel`, "");
    expect(((await cancelled.json()) as { status: string }).status).toBe("cancelled");
    const liveEvents = await live.rest();
    await t.services.executor.drain();
    const retrieved = await (await t.get(`/v1/responses/${id}`)).json();

    expectEndsCancelled(liveEvents, retrieved);
    const replayed = await replay(id);
    expectEndsCancelled(replayed, retrieved);
    expect(replayed.at(-1)).toEqual(liveEvents.at(-1));
    // Resuming from the last event seen before the cancel gets just the terminal event.
    const lastBefore = liveEvents.at(-2)?.sequence_number ?? -1;
    expect(await replay(id, lastBefore)).toEqual([liveEvents.at(-1)]);
  });

  it("ends the stream of a response cancelled while still queued", async () => {
    const { id, live } = await createStreamed();
    await t.post(`/v1/responses/${id}/cancel`, "");
    const liveEvents = await live.rest();
    const retrieved = await (await t.get(`/v1/responses/${id}`)).json();
    expect(liveEvents.map((event) => event.type)).toEqual([
      "response.created",
      "response.queued",
      "response.incomplete",
    ]);
    expectEndsCancelled(liveEvents, retrieved);
    expect(await replay(id)).toEqual(liveEvents);
  });

  it("adds nothing when cancelling again", async () => {
    const { id, live } = await createStreamed();
    await t.post(`/v1/responses/${id}/cancel`, "");
    await live.rest();
    await t.post(`/v1/responses/${id}/cancel`, "");
    const replayed = await replay(id);
    expect(replayed.filter((event) => event.type === "response.incomplete")).toHaveLength(1);
  });
});
