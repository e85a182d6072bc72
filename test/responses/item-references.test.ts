import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BackendConfig } from "../../src/config.js";
import { newId, outputItemId, responseIdOfOutputItem } from "../../src/lib/ids.js";
import { type ErrorBody, expectJson, keyedContext, send } from "../auth/auth-helpers.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, parseSseFrames, type TestContext } from "../helpers/test-app.js";
import { startFakeUpstream } from "../helpers/upstream.js";

/**
 * Input `item_reference` items (what the AI SDK sends with store on): output item ids carry
 * their response's id, so a reference resolves to the stored item with no table of its own;
 * anything else is OpenAI's 400 "Item with id '…' not found.".
 */

const MODEL = "gpt-4o-mini";

type Item = Record<string, unknown> & { id: string; type: string };
type Body = Record<string, unknown> & { id: string; output: Item[] };

const getWeather = {
  type: "function",
  name: "get_weather",
  description: "Get the current weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};

describe("output item ids", () => {
  it("carry the response id and the output index, and parse back to the response", () => {
    const responseId = newId("response");
    const first = outputItemId("reasoning", responseId, 0);
    const second = outputItemId("message", responseId, 1);
    expect(first).toMatch(/^rs_[0-9a-f]{52}$/);
    expect(second).toMatch(/^msg_[0-9a-f]{52}$/);
    expect(outputItemId("functionCall", responseId, 300)).toMatch(/^fc_[0-9a-f]{52}$/);
    expect(responseIdOfOutputItem(first)).toBe(responseId);
    expect(responseIdOfOutputItem(outputItemId("functionCall", responseId, 70_000))).toBe(
      responseId,
    );
    expect(first.slice(3)).not.toBe(outputItemId("reasoning", responseId, 1).slice(3));
  });

  it("are never confused with random ids or other prefixes", () => {
    expect(responseIdOfOutputItem(newId("message"))).toBeNull();
    expect(responseIdOfOutputItem(newId("functionCall"))).toBeNull();
    expect(responseIdOfOutputItem(newId("response"))).toBeNull();
    const derived = outputItemId("message", newId("response"), 0);
    expect(responseIdOfOutputItem(`call_${derived.slice(4)}`)).toBeNull();
    expect(responseIdOfOutputItem(`${derived}z`)).toBeNull();
  });
});

describe("item_reference input items", () => {
  let t: TestContext;
  beforeEach(() => {
    t = createTestContext();
  });
  afterEach(() => t.close());

  async function create(body: Record<string, unknown>): Promise<Body> {
    const response = await expectJson<Body>(
      t.post("/v1/responses", { model: MODEL, ...body }),
      200,
    );
    expectMatchesComponent("Response", response);
    return response;
  }

  async function inputItems(id: string): Promise<Item[]> {
    const page = await expectJson<{ data: Item[] }>(
      t.get(`/v1/responses/${id}/input_items?order=asc`),
      200,
    );
    return page.data;
  }

  async function refused(input: unknown[], extra: Record<string, unknown> = {}) {
    return expectJson<ErrorBody>(t.post("/v1/responses", { model: MODEL, input, ...extra }), 400);
  }

  it("gives a sync response's items ids of that response, in output order", async () => {
    const first = await create({ input: "Tell me a story", reasoning: { effort: "low" } });
    expect(first.output.map((item) => item.type)).toEqual(["reasoning", "message"]);
    expect(first.output[0]?.id).toBe(outputItemId("reasoning", first.id, 0));
    expect(first.output[1]?.id).toBe(outputItemId("message", first.id, 1));
    for (const item of first.output) {
      expect(responseIdOfOutputItem(item.id)).toBe(first.id);
    }
    expect(new Set(first.output.map((item) => item.id)).size).toBe(first.output.length);
  });

  it("resolves references to reasoning and message items, stored as the items themselves", async () => {
    const first = await create({ input: "Tell me a story", reasoning: { effort: "low" } });
    const second = await create({
      input: [
        { role: "user", content: "Tell me a story" },
        ...first.output.map((item) => ({ type: "item_reference", id: item.id })),
        { role: "user", content: "Another one" },
      ],
    });
    expect(second.status).toBe("completed");
    const items = await inputItems(second.id);
    expect(items.slice(1, 3)).toEqual(first.output);
    expect(items.map((item) => item.type)).toEqual(["message", "reasoning", "message", "message"]);
  });

  it("resolves a function call reference, so its output answers it", async () => {
    const first = await create({ input: "What is the weather in Paris?", tools: [getWeather] });
    const call = first.output.find((item) => item.type === "function_call");
    expect(call?.id).toMatch(/^fc_/);
    const second = await create({
      tools: [getWeather],
      input: [
        { role: "user", content: "What is the weather in Paris?" },
        { type: "item_reference", id: call?.id },
        { type: "function_call_output", call_id: call?.call_id, output: '{"temperature":21}' },
      ],
    });
    expect((await inputItems(second.id))[1]).toEqual(call);
    expect(second.output.some((item) => item.type === "function_call")).toBe(false);
  });

  it("streams the same ids it stores, derived from the response", async () => {
    const res = await t.post("/v1/responses", {
      model: MODEL,
      input: "Tell me a story",
      reasoning: { effort: "low" },
      stream: true,
    });
    const events = parseSseFrames(await res.text()).map(
      (frame) => JSON.parse(frame.data) as { type: string; item?: Item; response?: Body },
    );
    const final = events.at(-1)?.response as Body;
    const added = events.filter((event) => event.type === "response.output_item.added");
    expect(added.map((event) => event.item?.id)).toEqual(final.output.map((item) => item.id));
    for (const item of final.output) {
      expect(responseIdOfOutputItem(item.id)).toBe(final.id);
    }
    const stored = await expectJson<Body>(t.get(`/v1/responses/${final.id}`), 200);
    expect(stored.output).toEqual(final.output);
    const next = await create({
      input: [{ type: "item_reference", id: final.output[1]?.id }],
    });
    expect(await inputItems(next.id)).toEqual([final.output[1]]);
  });

  it("gives a background response's items ids of that response", async () => {
    const queued = await create({ input: "Tell me a story", background: true });
    await t.services.executor.runOnce();
    await t.services.executor.drain();
    const done = await expectJson<Body>(t.get(`/v1/responses/${queued.id}`), 200);
    expect(done.status).toBe("completed");
    expect(responseIdOfOutputItem(done.output[0]?.id ?? "")).toBe(queued.id);
    const next = await create({ input: [{ type: "item_reference", id: done.output[0]?.id }] });
    expect((await inputItems(next.id))[0]).toEqual(done.output[0]);
  });

  it("resolves a reference to an input item of the previous_response_id chain", async () => {
    const first = await create({ input: "Tell me a story" });
    const [userItem] = await inputItems(first.id);
    const second = await create({
      previous_response_id: first.id,
      input: [{ type: "item_reference", id: userItem?.id }],
    });
    expect(await inputItems(second.id)).toEqual([userItem]);
  });

  it("refuses ids that name no stored item with OpenAI's 400 and the item's index", async () => {
    const first = await create({ input: "Tell me a story" });
    const unstored = await create({ input: "Tell me a story", store: false });
    const deleted = await create({ input: "Tell me a story" });
    await t.app.request(`/v1/responses/${deleted.id}`, { method: "DELETE" });
    const unknownIds = [
      newId("reasoning"), // an old random id
      outputItemId("message", newId("response"), 0), // a response that never existed
      outputItemId("message", first.id, 7), // no item at that index
      unstored.output[0]?.id ?? "",
      deleted.output[0]?.id ?? "",
    ];
    for (const id of unknownIds) {
      const body = await refused([
        { role: "user", content: "hi" },
        { type: "item_reference", id },
      ]);
      expect(body.error).toEqual({
        message: `Item with id '${id}' not found.`,
        type: "invalid_request_error",
        param: "input[1]",
        code: null,
      });
    }
  });
});

describe("item_reference across projects", () => {
  it("does not resolve another project's item", async () => {
    const world = keyedContext();
    try {
      const alpha = world.createKey("alpha").key;
      const beta = world.createKey("beta").key;
      const first = await expectJson<Body>(
        send(world.t, "POST", "/v1/responses", alpha, { model: MODEL, input: "secret" }),
        200,
      );
      const id = first.output[0]?.id ?? "";
      const input = [{ type: "item_reference", id }];
      const body = await expectJson<ErrorBody>(
        send(world.t, "POST", "/v1/responses", beta, { model: MODEL, input }),
        400,
      );
      expect(body.error.message).toBe(`Item with id '${id}' not found.`);
      expect(body.error.param).toBe("input[0]");
      // The owner's project resolves it.
      await expectJson<Body>(
        send(world.t, "POST", "/v1/responses", alpha, { model: MODEL, input }),
        200,
      );
    } finally {
      await world.t.close();
    }
  });
});

describe("item_reference to a native upstream's items", () => {
  const upstreamMessage = {
    id: "msg_up_1",
    type: "message",
    status: "completed",
    role: "assistant",
    content: [{ type: "output_text", text: "Rain tomorrow.", annotations: [], logprobs: [] }],
  };

  it("finds them in the previous_response_id chain, and only there", async () => {
    const upstream = await startFakeUpstream((request) => ({
      kind: "json",
      body: {
        id: "resp_upstream_1",
        object: "response",
        created_at: 1_704_067_200,
        status: "completed",
        model: (request.body as { model: string }).model,
        output: [upstreamMessage],
        usage: {
          input_tokens: 5,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: 3,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: 8,
        },
        error: null,
        incomplete_details: null,
      },
    }));
    const backend: BackendConfig = {
      type: "openai-responses",
      name: "openai-native",
      baseUrl: upstream.baseUrl,
      apiKey: "sk-upstream",
      models: ["gpt-5"],
      aliases: {},
      maxConcurrency: 4,
      timeoutMs: 5_000,
      headers: {},
    };
    const t = createTestContext({ config: { backends: [backend] } });
    try {
      const first = await expectJson<Body>(
        t.post("/v1/responses", { model: "gpt-5", input: "Weather in Paris?" }),
        200,
      );
      expect(first.output).toEqual([upstreamMessage]);
      const reference = { type: "item_reference", id: "msg_up_1" };
      const alone = await expectJson<ErrorBody>(
        t.post("/v1/responses", { model: "gpt-5", input: [reference] }),
        400,
      );
      expect(alone.error.message).toBe("Item with id 'msg_up_1' not found.");
      await expectJson<Body>(
        t.post("/v1/responses", {
          model: "gpt-5",
          previous_response_id: first.id,
          input: [reference, { role: "user", content: "And the day after?" }],
        }),
        200,
      );
      const sent = upstream.requests.at(-1)?.body as { input: Item[] };
      // The chain's turn, then the referenced item itself, then the new message.
      expect(sent.input.filter((item) => item.id === "msg_up_1")).toEqual([
        upstreamMessage,
        upstreamMessage,
      ]);
    } finally {
      await t.close();
      await upstream.close();
    }
  });
});
