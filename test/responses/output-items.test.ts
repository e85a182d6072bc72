import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, parseSseFrames, type TestContext } from "../helpers/test-app.js";

/**
 * The Responses output items the mock's knobs produce (MOCK-RULES.md): refusals, reasoning,
 * logprobs. Sync, streamed and stored, each object and event checked against the spec.
 */

const MODEL = "gpt-4o-mini";

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

type Body = Record<string, unknown> & { id: string; output: Record<string, unknown>[] };

async function create(body: Record<string, unknown>): Promise<Body> {
  const res = await t.post("/v1/responses", { model: MODEL, input: "Tell me a story", ...body });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  const response = JSON.parse(text) as Body;
  expectMatchesComponent("Response", response);
  // What GET returns is what POST did.
  const stored = (await (await t.get(`/v1/responses/${response.id}`)).json()) as Body;
  expect(stored.output).toEqual(response.output);
  return response;
}

async function stream(body: Record<string, unknown>) {
  const res = await t.post("/v1/responses", {
    model: MODEL,
    input: "Tell me a story",
    stream: true,
    ...body,
  });
  expect(res.status).toBe(200);
  const events = parseSseFrames(await res.text()).map(
    (frame) => JSON.parse(frame.data) as Record<string, unknown> & { type: string },
  );
  for (const event of events) {
    expectMatchesComponent("ResponseStreamEvent", event);
  }
  const last = events.at(-1) as unknown as { response: Body };
  const stored = (await (await t.get(`/v1/responses/${last.response.id}`)).json()) as Body;
  expect(stored.output).toEqual(last.response.output);
  return { events, types: events.map((event) => event.type), final: last.response };
}

describe("output items", () => {
  it("a refusal is a refusal part, sync and streamed", async () => {
    const knob = { metadata: { mock_refusal: "true" } };
    const sync = await create(knob);
    expect(sync.output).toMatchObject([
      { type: "message", content: [{ type: "refusal", refusal: expect.any(String) }] },
    ]);
    const { types, final } = await stream(knob);
    expect(types).toContain("response.refusal.delta");
    expect(types).toContain("response.refusal.done");
    expect(final.output).toMatchObject([{ content: [{ type: "refusal" }] }]);
  });

  it("reasoning comes first as a reasoning item, and counts as reasoning tokens", async () => {
    const body = { reasoning: { effort: "low" } };
    const sync = await create(body);
    expect(sync.output[0]).toMatchObject({ type: "reasoning", summary: [] });
    expect(String(sync.output[0]?.id)).toMatch(/^rs_/);
    expect(sync.output[1]).toMatchObject({ type: "message" });
    const usage = sync.usage as { output_tokens_details: { reasoning_tokens: number } };
    expect(usage.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
    const { types, final } = await stream(body);
    expect(types).toContain("response.reasoning_text.delta");
    expect(final.output.map((item) => item.type)).toEqual(["reasoning", "message"]);
  });

  it("logprobs come with include, top_logprobs alternatives each", async () => {
    const body = { include: ["message.output_text.logprobs"], top_logprobs: 2 };
    const sync = await create(body);
    const content = (sync.output[0]?.content ?? []) as {
      logprobs: { top_logprobs: unknown[] }[];
    }[];
    const part = content[0];
    expect(part?.logprobs.length).toBeGreaterThan(0);
    expect(part?.logprobs.every((entry) => entry.top_logprobs.length === 2)).toBe(true);
    const { events } = await stream(body);
    const delta = events.find(
      (event) => event.type === "response.output_text.delta",
    ) as unknown as {
      logprobs: unknown[];
    };
    expect(delta.logprobs.length).toBeGreaterThan(0);
    const plain = await create({});
    expect(plain.output[0]).toMatchObject({ content: [{ logprobs: [] }] });
  });
});
