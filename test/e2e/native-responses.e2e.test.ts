import { afterEach, describe, expect, it } from "vitest";
import type { BackendConfig } from "../../src/config.js";
import { startTestServer } from "../helpers/server.js";
import {
  type RecordedRequest,
  startFakeUpstream,
  type UpstreamReply,
} from "../helpers/upstream.js";

/**
 * ferry in front of a native Responses upstream (`type: "openai-responses"`, a local HTTP server
 * of the test's own), driven by the official SDK: a body with a built-in tool reaches the
 * upstream as the client wrote it, and the upstream's output items come back to the client
 * unchanged, while ferry still stores the conversation (previous_response_id), streams and
 * backgrounds the work.
 *
 * Needs the Responses surface to set `GenerateRequest.responsesBody` (the client's body, with the
 * history behind previous_response_id as input items) and to return `OutputItem.native` items as
 * they are, and to let built-in tools through for a model on a native Responses backend.
 */

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) {
    await thing.close();
  }
});

const reasoningItem = {
  id: "rs_up_1",
  type: "reasoning",
  summary: [{ type: "summary_text", text: "Search, then answer." }],
  encrypted_content: "gAAAAB-encrypted-by-upstream",
};
const webSearchItem = {
  id: "ws_up_1",
  type: "web_search_call",
  status: "completed",
  action: {
    type: "search",
    query: "weather Paris tomorrow",
    sources: [{ type: "url", url: "https://example.com/paris" }],
  },
};
const messageItem = {
  id: "msg_up_1",
  type: "message",
  status: "completed",
  role: "assistant",
  content: [
    {
      type: "output_text",
      text: "Rain tomorrow (example.com).",
      annotations: [
        {
          type: "url_citation",
          start_index: 14,
          end_index: 27,
          url: "https://example.com/paris",
          title: "Paris",
        },
      ],
      logprobs: [],
    },
  ],
};
const upstreamOutput = [reasoningItem, webSearchItem, messageItem];

function upstreamResponse(body: Record<string, unknown>) {
  return {
    id: "resp_upstream_1",
    object: "response",
    created_at: 1_704_067_200,
    status: "completed",
    model: body.model,
    output: upstreamOutput,
    usage: {
      input_tokens: 50,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 20,
      output_tokens_details: { reasoning_tokens: 8 },
      total_tokens: 70,
    },
    error: null,
    incomplete_details: null,
  };
}

/** JSON for a sync call, OpenAI's event stream for a streamed one. */
function nativeUpstream(request: RecordedRequest): UpstreamReply {
  const body = request.body as Record<string, unknown>;
  if (body.stream !== true) {
    return { kind: "json", body: upstreamResponse(body) };
  }
  const events: object[] = [
    {
      type: "response.created",
      response: { ...upstreamResponse(body), status: "in_progress", output: [] },
    },
  ];
  for (const [index, item] of upstreamOutput.entries()) {
    // An item begins bare (a message without content yet) and ends whole.
    const opening =
      item.type === "message"
        ? { ...item, status: "in_progress", content: [] }
        : { id: item.id, type: item.type };
    events.push({ type: "response.output_item.added", output_index: index, item: opening });
    if (item.type === "message") {
      events.push({
        type: "response.output_text.delta",
        output_index: index,
        content_index: 0,
        delta: messageItem.content[0]?.text,
        logprobs: [],
      });
    }
    events.push({ type: "response.output_item.done", output_index: index, item });
  }
  events.push({ type: "response.completed", response: upstreamResponse(body) });
  const text = events
    .map((event, sequence) => {
      const data = JSON.stringify({ ...event, sequence_number: sequence });
      return `event: ${(event as { type: string }).type}\ndata: ${data}\n\n`;
    })
    .join("");
  return { kind: "text", body: text, headers: { "content-type": "text/event-stream" } };
}

function sentBody(request: RecordedRequest | undefined): Record<string, unknown> {
  expect(request).toBeDefined();
  return request?.body as Record<string, unknown>;
}

async function start() {
  const upstream = await startFakeUpstream(nativeUpstream);
  open.push(upstream);
  const backend: BackendConfig = {
    type: "openai-responses",
    name: "openai-native",
    baseUrl: upstream.baseUrl,
    apiKey: "sk-upstream",
    models: ["gpt-5"],
    aliases: { "gpt-5-public": "gpt-5-2026" },
    maxConcurrency: 4,
    timeoutMs: 5_000,
    headers: {},
  };
  const server = await startTestServer({ config: { backends: [backend] } });
  open.push({ close: () => server.close({ removeData: true }) });
  return { upstream, server };
}

describe("a native Responses upstream behind ferry", () => {
  it("forwards a built-in tool intact and returns the upstream's items unchanged", async () => {
    const { upstream, server } = await start();
    const response = await server.openai.responses.create({
      model: "gpt-5-public",
      input: "Weather in Paris tomorrow?",
      tools: [{ type: "web_search" }],
      include: ["web_search_call.action.sources"],
      reasoning: { effort: "low", summary: "auto" },
      metadata: { trace: "e2e-1" },
    });

    const sent = sentBody(upstream.requests[0]);
    expect(upstream.requests[0]?.path).toBe("/v1/responses");
    expect(sent).toMatchObject({
      model: "gpt-5-2026",
      tools: [{ type: "web_search" }],
      reasoning: { effort: "low", summary: "auto" },
      metadata: { trace: "e2e-1" },
      stream: false,
      store: false,
      background: false,
      include: ["web_search_call.action.sources", "reasoning.encrypted_content"],
    });
    expect(sent).not.toHaveProperty("previous_response_id");

    expect(response.id).not.toBe("resp_upstream_1");
    expect(response.output).toEqual(upstreamOutput);
    expect(response.output_text).toBe("Rain tomorrow (example.com).");
    expect(response.usage).toMatchObject({
      input_tokens: 50,
      output_tokens: 20,
      output_tokens_details: { reasoning_tokens: 8 },
    });
  });

  it("replays the stored turn, encrypted reasoning and search call included, for previous_response_id", async () => {
    const { upstream, server } = await start();
    const first = await server.openai.responses.create({
      model: "gpt-5-public",
      input: "Weather in Paris tomorrow?",
      tools: [{ type: "web_search" }],
    });
    await server.openai.responses.create({
      model: "gpt-5-public",
      previous_response_id: first.id,
      input: "And the day after?",
      tools: [{ type: "web_search" }],
    });

    const second = sentBody(upstream.requests[1]);
    expect(second).not.toHaveProperty("previous_response_id");
    expect(second.store).toBe(false);
    const input = second.input as Record<string, unknown>[];
    // The history: the first input, the first turn's output items as the upstream sent them,
    // then the new input.
    expect(input).toEqual(
      expect.arrayContaining([
        reasoningItem,
        webSearchItem,
        expect.objectContaining({ id: "msg_up_1" }),
      ]),
    );
    expect(JSON.stringify(input.at(-1))).toContain("And the day after?");
  });

  it("streams the upstream's items and completes with them unchanged", async () => {
    const { upstream, server } = await start();
    const stream = await server.openai.responses.create({
      model: "gpt-5-public",
      input: "Weather in Paris tomorrow?",
      tools: [{ type: "web_search" }],
      stream: true,
    });
    const doneItems: unknown[] = [];
    let completed: unknown = null;
    let text = "";
    for await (const event of stream) {
      if (event.type === "response.output_item.done") {
        doneItems.push(event.item);
      } else if (event.type === "response.output_text.delta") {
        text += event.delta;
      } else if (event.type === "response.completed") {
        completed = event.response.output;
      }
    }
    expect(sentBody(upstream.requests[0]).stream).toBe(true);
    expect(text).toBe("Rain tomorrow (example.com).");
    // A native item (the search call) is announced whole, so its output_item.done is the
    // upstream's. The others' output_item.done are ferry's rendering of the typed item: the
    // contract has no event that closes an item with its native form before `done`.
    expect(doneItems).toHaveLength(3);
    expect(doneItems[1]).toEqual(webSearchItem);
    expect(completed).toEqual(upstreamOutput);
  });

  it("runs a background response itself and asks the upstream for a foreground one", async () => {
    const { upstream, server } = await start();
    const queued = await server.openai.responses.create({
      model: "gpt-5-public",
      input: "Weather in Paris tomorrow?",
      tools: [{ type: "web_search" }],
      background: true,
    });
    let response = queued;
    const deadline = Date.now() + 10_000;
    while (["queued", "in_progress"].includes(response.status ?? "") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      response = await server.openai.responses.retrieve(queued.id);
    }
    expect(response.status).toBe("completed");
    expect(sentBody(upstream.requests[0]).background).toBe(false);
    expect(response.output).toEqual(upstreamOutput);
  });
});
