import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, parseSseFrames, type TestContext } from "../helpers/test-app.js";

const MODEL = "gpt-4o-mini";

interface OutputTextPart {
  type: string;
  text: string;
}

interface Item {
  id: string;
  type: string;
  role?: string;
  status?: string;
  content?: OutputTextPart[];
}

interface ResponseBody {
  id: string;
  object: string;
  status: string;
  model: string;
  output: Item[];
  usage?: {
    input_tokens: number;
    output_tokens: number;
    total_tokens: number;
  };
  incomplete_details: { reason: string } | null;
  completed_at: number | null;
  previous_response_id: string | null;
  [field: string]: unknown;
}

interface ItemList {
  object: string;
  data: Item[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

interface StreamEvent {
  type: string;
  sequence_number: number;
  delta?: string;
  text?: string;
  response?: ResponseBody;
}

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

/** POST /v1/responses and expect a 200; returns the Response object. */
async function createResponse(body: Record<string, unknown>): Promise<ResponseBody> {
  const res = await t.post("/v1/responses", { model: MODEL, ...body });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as ResponseBody;
}

/** What the SDKs compute as `output_text`: every output_text part of every message item. */
function outputText(response: ResponseBody): string {
  return response.output
    .filter((item) => item.type === "message")
    .flatMap((item) => item.content ?? [])
    .filter((part) => part.type === "output_text")
    .map((part) => part.text)
    .join("");
}

async function getJson<T>(path: string, status = 200): Promise<T> {
  const res = await t.get(path);
  expect(res.status, await res.clone().text()).toBe(status);
  return (await res.json()) as T;
}

async function listInputItems(id: string, query = ""): Promise<ItemList> {
  const list = await getJson<ItemList>(`/v1/responses/${id}/input_items${query}`);
  // The spec types first_id/last_id as strings; an empty page sends null, as OpenAI does.
  if (list.data.length > 0) {
    expectMatchesComponent("ResponseItemList", list);
  }
  return list;
}

/** POST a stream request and read the whole SSE body. */
async function streamResponse(body: Record<string, unknown>) {
  const res = await t.post("/v1/responses", { model: MODEL, stream: true, ...body });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  const frames = parseSseFrames(text);
  const events = frames.map((frame) => JSON.parse(frame.data) as StreamEvent);
  return { res, text, frames, events };
}

function lastEvent(events: StreamEvent[]): StreamEvent {
  const last = events.at(-1);
  if (last === undefined) {
    throw new Error("the stream had no events");
  }
  return last;
}

const THREE_MESSAGES = [
  { role: "developer", content: "Answer briefly." },
  { role: "user", content: "What is a river delta?" },
  { type: "message", role: "user", content: [{ type: "input_text", text: "And an estuary?" }] },
];

describe("POST /v1/responses", () => {
  it("creates a completed response that matches the spec", async () => {
    const response = await createResponse({ input: "Tell me about lighthouses" });
    expectMatchesComponent("Response", response);
    expect(response.id).toMatch(/^resp_/);
    expect(response).toMatchObject({
      object: "response",
      status: "completed",
      model: MODEL,
      error: null,
      incomplete_details: null,
      previous_response_id: null,
      store: true,
      background: false,
    });
    expect(response.completed_at).toEqual(expect.any(Number));
    expect(response.output).toHaveLength(1);
    expect(response.output[0]).toMatchObject({
      type: "message",
      role: "assistant",
      status: "completed",
    });
    expect(response.output[0]?.id).toMatch(/^msg_/);
    expect(outputText(response).length).toBeGreaterThan(0);
  });

  it("answers the same input with the same text and a different input with another", async () => {
    const first = await createResponse({ input: "Tell me about lighthouses" });
    const again = await createResponse({ input: "Tell me about lighthouses" });
    const other = await createResponse({ input: "Explain sourdough starters" });
    expect(again.id).not.toBe(first.id);
    expect(outputText(again)).toBe(outputText(first));
    expect(outputText(other)).not.toBe(outputText(first));
  });

  it("reports usage as positive integers that add up", async () => {
    const { usage } = await createResponse({ input: "Tell me about lighthouses" });
    expect(usage).toBeDefined();
    const { input_tokens, output_tokens, total_tokens } = usage ?? {
      input_tokens: 0,
      output_tokens: 0,
      total_tokens: 0,
    };
    for (const count of [input_tokens, output_tokens, total_tokens]) {
      expect(Number.isInteger(count) && count > 0, JSON.stringify(usage)).toBe(true);
    }
    expect(total_tokens).toBe(input_tokens + output_tokens);
  });

  it("stops at max_output_tokens with status incomplete", async () => {
    const response = await createResponse({
      input: "Tell me about lighthouses",
      max_output_tokens: 16,
    });
    expectMatchesComponent("Response", response);
    expect(response.status).toBe("incomplete");
    expect(response.incomplete_details).toEqual({ reason: "max_output_tokens" });
    expect(response.usage?.output_tokens).toBe(16);
    expect(response.max_output_tokens).toBe(16);
    expect(response.output[0]).toMatchObject({ type: "message", status: "incomplete" });
    const full = await createResponse({ input: "Tell me about lighthouses" });
    expect(outputText(full).startsWith(outputText(response))).toBe(true);
  });

  it("echoes the request's settings on the response", async () => {
    const settings = {
      instructions: "Answer like a ship's captain.",
      metadata: { ticket: "T-42", team: "search" },
      temperature: 0.3,
      top_p: 0.8,
      tools: [
        {
          type: "function",
          name: "get_tide",
          description: "Tide times for a harbour",
          parameters: { type: "object", properties: { harbour: { type: "string" } } },
          strict: false,
        },
      ],
      tool_choice: "none",
      parallel_tool_calls: false,
      text: { format: { type: "json_object" }, verbosity: "low" },
      user: "user-1234",
      max_output_tokens: 500,
      truncation: "auto",
      top_logprobs: 2,
      safety_identifier: "safety-1",
      prompt_cache_key: "cache-1",
      reasoning: { effort: "low", summary: "concise" },
    };
    const response = await createResponse({ input: "Tell me about lighthouses", ...settings });
    expectMatchesComponent("Response", response);
    expect(response).toMatchObject(settings);
    // The row keeps only the settings that differ from the defaults; it reads back whole.
    expect(await getJson<ResponseBody>(`/v1/responses/${response.id}`)).toEqual(response);
  });

  it("fills OpenAI's defaults for settings the request left out", async () => {
    const response = await createResponse({ input: "Tell me about lighthouses" });
    expect(response).toMatchObject({
      instructions: null,
      metadata: {},
      temperature: 1,
      top_p: 1,
      tools: [],
      tool_choice: "auto",
      parallel_tool_calls: true,
      text: { format: { type: "text" } },
      truncation: "disabled",
      max_output_tokens: null,
    });
  });

  it("sends x-request-id on success and on errors", async () => {
    const ok = await t.post("/v1/responses", { model: MODEL, input: "hi" });
    expect(ok.status).toBe(200);
    const bad = await t.post("/v1/responses", { model: MODEL, input: "hi", top_p: 7 });
    expect(bad.status).toBe(400);
    const okId = ok.headers.get("x-request-id");
    const badId = bad.headers.get("x-request-id");
    expect(okId).toMatch(/^req_/);
    expect(badId).toMatch(/^req_/);
    expect(okId).not.toBe(badId);
  });

  it("answers metadata.mock_error 400 with a final 400", async () => {
    const res = await t.post("/v1/responses", {
      model: MODEL,
      input: "hi",
      metadata: { mock_error: "400" },
    });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(res.headers.get("x-should-retry")).toBe("false");
    expectMatchesComponent("ErrorResponse", body);
    expect(body).toMatchObject({ error: { type: "invalid_request_error" } });
  });

  it("answers metadata.mock_error 500, after ferry's own retries, with a final server_error", async () => {
    const res = await t.post("/v1/responses", {
      model: MODEL,
      input: "hi",
      metadata: { mock_error: "500" },
    });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(500);
    // ferry retried already; the SDK is told not to multiply the retries.
    expect(res.headers.get("x-should-retry")).toBe("false");
    expect((body as { error: { message: string } }).error.message).toMatch(
      /gave up after 4 attempts/,
    );
    expectMatchesComponent("ErrorResponse", body);
    expect(body).toMatchObject({ error: { type: "server_error" } });
  });
});

describe("GET and DELETE /v1/responses/{id}", () => {
  it("retrieves the stored response as it was created", async () => {
    const created = await createResponse({
      input: "Tell me about lighthouses",
      metadata: { a: "b" },
    });
    const retrieved = await getJson<ResponseBody>(`/v1/responses/${created.id}`);
    expectMatchesComponent("Response", retrieved);
    expect(retrieved).toEqual(created);
  });

  it("does not keep a response created with store:false", async () => {
    const created = await createResponse({ input: "Tell me about lighthouses", store: false });
    expect(created.store).toBe(false);
    const body = await getJson(`/v1/responses/${created.id}`, 404);
    expectMatchesComponent("ErrorResponse", body);
    await getJson(`/v1/responses/${created.id}/input_items`, 404);
  });

  it("deletes a response once", async () => {
    const created = await createResponse({ input: "Tell me about lighthouses" });
    const path = `/v1/responses/${created.id}`;
    const deleted = await t.app.request(path, { method: "DELETE" });
    expect(deleted.status, await deleted.clone().text()).toBe(200);
    expect(await deleted.json()).toEqual({ id: created.id, object: "response", deleted: true });

    const body = await getJson(path, 404);
    expectMatchesComponent("ErrorResponse", body);
    expect(body).toMatchObject({ error: { type: "invalid_request_error" } });

    const again = await t.app.request(path, { method: "DELETE" });
    expect(again.status, await again.clone().text()).toBe(404);
    expectMatchesComponent("ErrorResponse", await again.json());
  });
});

describe("GET /v1/responses/{id}/input_items", () => {
  it("lists a string input as one user message with input_text content", async () => {
    const created = await createResponse({ input: "Tell me about lighthouses" });
    const list = await listInputItems(created.id);
    expect(list).toMatchObject({ object: "list", has_more: false });
    expect(list.data).toHaveLength(1);
    const [item] = list.data;
    expect(item).toMatchObject({
      type: "message",
      role: "user",
      content: [{ type: "input_text", text: "Tell me about lighthouses" }],
    });
    expect(item?.id).toMatch(/^msg_/);
    expect(list.first_id).toBe(item?.id);
    expect(list.last_id).toBe(item?.id);
  });

  it("lists items newest first by default and oldest first with order=asc", async () => {
    const created = await createResponse({ input: THREE_MESSAGES });
    const desc = await listInputItems(created.id);
    const asc = await listInputItems(created.id, "?order=asc");
    expect(asc.data.map((item) => item.role)).toEqual(["developer", "user", "user"]);
    expect(asc.data[2]?.content).toEqual([{ type: "input_text", text: "And an estuary?" }]);
    expect(desc.data.map((item) => item.id)).toEqual(asc.data.map((item) => item.id).reverse());
    for (const item of asc.data) {
      expect(item.id).toMatch(/^msg_/);
    }
  });

  it("keeps the ids a client gave its input items", async () => {
    const created = await createResponse({
      input: [{ type: "message", id: "msg_client_1", role: "user", content: "hi" }],
    });
    const list = await listInputItems(created.id);
    expect(list.data.map((item) => item.id)).toEqual(["msg_client_1"]);
  });

  it("pages with limit and after", async () => {
    const created = await createResponse({ input: THREE_MESSAGES });
    const all = await listInputItems(created.id, "?order=asc");
    const ids = all.data.map((item) => item.id);

    const seen: string[] = [];
    let query = "?order=asc&limit=1";
    for (let page = 0; page < 3; page++) {
      const list = await listInputItems(created.id, query);
      expect(list.data).toHaveLength(1);
      const id = list.data[0]?.id ?? "";
      expect(list.first_id).toBe(id);
      expect(list.last_id).toBe(id);
      expect(list.has_more, `page ${page}`).toBe(page < 2);
      seen.push(id);
      query = `?order=asc&limit=1&after=${id}`;
    }
    expect(seen).toEqual(ids);

    const rest = await listInputItems(created.id, `?limit=2&after=${ids[2]}`);
    expect(rest.data.map((item) => item.id)).toEqual([ids[1], ids[0]]);
    expect(rest.has_more).toBe(false);

    const empty = await listInputItems(created.id, `?order=asc&after=${ids[2]}`);
    expect(empty).toMatchObject({ data: [], first_id: null, last_id: null, has_more: false });
  });
});

describe("previous_response_id", () => {
  it("continues a conversation but stores only the new turn's input", async () => {
    const first = await createResponse({ input: "Tell me about lighthouses" });
    const second = await createResponse({
      input: "And who keeps them running?",
      previous_response_id: first.id,
    });
    expectMatchesComponent("Response", second);
    expect(second.previous_response_id).toBe(first.id);

    const items = await listInputItems(second.id);
    expect(items.data).toHaveLength(1);
    expect(items.data[0]).toMatchObject({
      role: "user",
      content: [{ type: "input_text", text: "And who keeps them running?" }],
    });

    const alone = await createResponse({ input: "And who keeps them running?" });
    expect(outputText(second)).not.toBe(outputText(alone));
    // The history counts as input too.
    expect(second.usage?.input_tokens ?? 0).toBeGreaterThan(alone.usage?.input_tokens ?? 0);
  });
});

describe("POST /v1/responses with stream:true", () => {
  const EXPECTED_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta+",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
  ];

  /** Event types with runs of deltas collapsed to one `…delta+`. */
  function collapseDeltas(events: StreamEvent[]): string[] {
    const types: string[] = [];
    for (const event of events) {
      const type = event.type === "response.output_text.delta" ? `${event.type}+` : event.type;
      if (types.at(-1) !== type) {
        types.push(type);
      }
    }
    return types;
  }

  it("sends named SSE frames with contiguous sequence numbers", async () => {
    const { res, text, frames, events } = await streamResponse({
      input: "Tell me about lighthouses",
    });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    expect(text).not.toContain("[DONE]");
    for (const [index, frame] of frames.entries()) {
      const event = events[index];
      expect(frame.event, frame.data).toBe(event?.type);
      expect(event?.sequence_number).toBe(index);
      expectMatchesComponent("ResponseStreamEvent", event);
    }
  });

  it("sends the events in OpenAI's order and the deltas add up to the text", async () => {
    const { events } = await streamResponse({ input: "Tell me about lighthouses" });
    expect(collapseDeltas(events)).toEqual(EXPECTED_ORDER);

    const deltas = events.filter((event) => event.type === "response.output_text.delta");
    expect(deltas.length).toBeGreaterThan(1);
    const joined = deltas.map((event) => event.delta).join("");
    const done = events.find((event) => event.type === "response.output_text.done");
    expect(done?.text).toBe(joined);

    const completed = lastEvent(events).response;
    if (completed === undefined) {
      throw new Error("response.completed carried no response");
    }
    expect(completed.status).toBe("completed");
    expect(outputText(completed)).toBe(joined);
    expect(completed.usage?.output_tokens).toBeGreaterThan(0);
    expectMatchesComponent("Response", completed);

    const sync = await createResponse({ input: "Tell me about lighthouses" });
    expect(joined).toBe(outputText(sync));
  });

  it("ends with response.incomplete when max_output_tokens cuts the answer", async () => {
    const { events } = await streamResponse({
      input: "Tell me about lighthouses",
      max_output_tokens: 16,
    });
    expect(collapseDeltas(events)).toEqual([...EXPECTED_ORDER.slice(0, -1), "response.incomplete"]);
    const terminal = lastEvent(events);
    expect(terminal.response).toMatchObject({
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      usage: { output_tokens: 16 },
    });
    expect(terminal.response?.output[0]?.status).toBe("incomplete");
    for (const event of events) {
      expectMatchesComponent("ResponseStreamEvent", event);
    }
  });

  it("stores a streamed response for a later GET", async () => {
    const { events } = await streamResponse({ input: "Tell me about lighthouses" });
    const completed = lastEvent(events).response;
    if (completed === undefined) {
      throw new Error("response.completed carried no response");
    }
    const retrieved = await getJson<ResponseBody>(`/v1/responses/${completed.id}`);
    expectMatchesComponent("Response", retrieved);
    expect(retrieved.status).toBe("completed");
    expect(outputText(retrieved)).toBe(outputText(completed));
    const items = await listInputItems(completed.id);
    expect(items.data).toHaveLength(1);
  });

  it("answers metadata.mock_error 500 with an HTTP 500 envelope, not a stream", async () => {
    const res = await t.post("/v1/responses", {
      model: MODEL,
      input: "hi",
      stream: true,
      metadata: { mock_error: "500" },
    });
    const text = await res.text();
    expect(res.status, text).toBe(500);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = JSON.parse(text);
    expectMatchesComponent("ErrorResponse", body);
    expect(body).toMatchObject({ error: { type: "server_error" } });
  });

  it("answers metadata.mock_error 429 with a 429 and retry-after", async () => {
    const res = await t.post("/v1/responses", {
      model: MODEL,
      input: "hi",
      stream: true,
      metadata: { mock_error: "429" },
    });
    const text = await res.text();
    expect(res.status, text).toBe(429);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = JSON.parse(text);
    expectMatchesComponent("ErrorResponse", body);
    expect(body).toMatchObject({ error: { code: "rate_limit_exceeded" } });
  });
});
