import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { expectJson } from "../auth/auth-helpers.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { createTestContext, parseSseFrames, type TestContext } from "../helpers/test-app.js";

/**
 * Reasoning summaries: when the request asks for one (reasoning.summary, or the older
 * reasoning.generate_summary), reasoning text that came with no summary is shown as the
 * summary, sync, stored and streamed with OpenAI's summary events.
 */

const MODEL = "gpt-4o-mini";

type Item = Record<string, unknown> & { id: string; type: string };
type Body = Record<string, unknown> & { id: string; output: Item[] };
type StreamEvent = Record<string, unknown> & { type: string; sequence_number: number };

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

async function create(reasoning: Record<string, unknown>): Promise<Body> {
  const response = await expectJson<Body>(
    t.post("/v1/responses", { model: MODEL, input: "Tell me a story", reasoning }),
    200,
  );
  expectMatchesComponent("Response", response);
  const stored = await expectJson<Body>(t.get(`/v1/responses/${response.id}`), 200);
  expect(stored.output).toEqual(response.output);
  return response;
}

async function stream(reasoning: Record<string, unknown>) {
  const res = await t.post("/v1/responses", {
    model: MODEL,
    input: "Tell me a story",
    reasoning,
    stream: true,
  });
  expect(res.status).toBe(200);
  const events = parseSseFrames(await res.text()).map(
    (frame) => JSON.parse(frame.data) as StreamEvent,
  );
  for (const event of events) {
    expectMatchesComponent("ResponseStreamEvent", event);
  }
  const final = (events.at(-1) as unknown as { response: Body }).response;
  const stored = await expectJson<Body>(t.get(`/v1/responses/${final.id}`), 200);
  expect(stored.output).toEqual(final.output);
  return { events, types: events.map((event) => event.type), final };
}

function summaryText(item: Item | undefined): string {
  expect(item).toMatchObject({ type: "reasoning" });
  const summary = item?.summary as { type: string; text: string }[];
  for (const part of summary) {
    expect(part.type).toBe("summary_text");
  }
  return summary.map((part) => part.text).join("");
}

describe("reasoning summaries", () => {
  it("shows the reasoning text as the summary when reasoning.summary is set", async () => {
    const response = await create({ effort: "low", summary: "auto" });
    const [reasoning] = response.output;
    expect(summaryText(reasoning)).not.toBe("");
    expect(reasoning).not.toHaveProperty("content");
    expect(reasoning?.summary).toHaveLength(1);
  });

  it("does the same for the older reasoning.generate_summary", async () => {
    const response = await create({ effort: "low", generate_summary: "concise" });
    expect(summaryText(response.output[0])).not.toBe("");
    expect(response.output[0]).not.toHaveProperty("content");
  });

  it("keeps the text as content, with an empty summary, when none is asked for", async () => {
    const response = await create({ effort: "low" });
    const [reasoning] = response.output;
    expect(reasoning?.summary).toEqual([]);
    expect(reasoning?.content).toEqual([{ type: "reasoning_text", text: expect.any(String) }]);
  });

  it("streams the summary with OpenAI's summary events, in order", async () => {
    const { events, types, final } = await stream({ effort: "low", summary: "detailed" });
    expect(types).not.toContain("response.reasoning_text.delta");
    const reasoningId = final.output[0]?.id;
    const ofReasoning = events.filter((event) => event.item_id === reasoningId);
    const kinds = [...new Set(ofReasoning.map((event) => event.type))];
    expect(kinds).toEqual([
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
    ]);
    const text = summaryText(final.output[0]);
    const deltas = ofReasoning
      .filter((event) => event.type === "response.reasoning_summary_text.delta")
      .map((event) => event.delta)
      .join("");
    expect(deltas).toBe(text);
    expect(ofReasoning.at(-2)).toMatchObject({ summary_index: 0, output_index: 0, text });
    expect(ofReasoning.at(-1)).toMatchObject({ part: { type: "summary_text", text } });
    expect(final.output[0]).not.toHaveProperty("content");
    const done = events.find(
      (event) => event.type === "response.output_item.done" && event.output_index === 0,
    );
    expect(done?.item).toEqual(final.output[0]);
  });

  it("streams reasoning text as before when no summary is asked for", async () => {
    const { types } = await stream({ effort: "low" });
    expect(types).toContain("response.reasoning_text.delta");
    expect(types).not.toContain("response.reasoning_summary_text.delta");
  });

  it("streams a background response's summary, and replays it", async () => {
    t.services.executor.start();
    const res = await t.post("/v1/responses", {
      model: MODEL,
      input: "Tell me a story",
      reasoning: { effort: "low", summary: "auto" },
      background: true,
      stream: true,
    });
    expect(res.status).toBe(200);
    const live = parseSseFrames(await res.text()).map(
      (frame) => JSON.parse(frame.data) as StreamEvent,
    );
    const types = live.map((event) => event.type);
    expect(types).toContain("response.reasoning_summary_text.delta");
    expect(types).toContain("response.reasoning_summary_part.done");
    expect(types).not.toContain("response.reasoning_text.delta");
    const final = (live.at(-1) as unknown as { response: Body }).response;
    await t.services.executor.drain();
    const stored = await expectJson<Body>(t.get(`/v1/responses/${final.id}`), 200);
    expect(stored.output).toEqual(final.output);
    expect(summaryText(stored.output[0])).not.toBe("");
    const replay = await t.get(`/v1/responses/${final.id}?stream=true`);
    const replayed = parseSseFrames(await replay.text()).map(
      (frame) => JSON.parse(frame.data) as StreamEvent,
    );
    expect(replayed).toEqual(live);
  });
});

describe("reasoning summaries with the openai SDK's stream helper", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close({ removeData: true }));

  it("accepts the summary events and ends with the summary", async () => {
    const runner = s.openai.responses.stream({
      model: MODEL,
      input: "Tell me a story",
      reasoning: { effort: "low", summary: "auto" },
    });
    let deltas = "";
    runner.on("response.reasoning_summary_text.delta", (event) => {
      deltas += event.delta;
    });
    const final = await runner.finalResponse();
    const [reasoning] = final.output;
    expect(reasoning?.type).toBe("reasoning");
    const text = reasoning?.type === "reasoning" ? reasoning.summary[0]?.text : undefined;
    expect(text).not.toBe("");
    expect(deltas).toBe(text);
  });
});
