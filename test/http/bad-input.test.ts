import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConfigOverrides } from "../../src/config.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

/**
 * Malformed requests across every route: each must get a 4xx in OpenAI's error envelope (never a
 * 500, never HTML or text), with `param` naming the field at fault and a message that says what
 * is wrong.
 */

const MODEL = "gpt-4o-mini";
const EMBEDDING_MODEL = "text-embedding-3-small";
const USER_MESSAGE = [{ role: "user", content: "Hello there" }];

interface BadInputCase {
  readonly name: string;
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly path: string;
  /** A JSON value (serialised) or a raw string (sent as is); absent for GET/DELETE. */
  readonly body?: unknown;
  /** Overrides the default `application/json` request content type. */
  readonly contentType?: string;
  /** Config for a world of its own (the body-size limit). */
  readonly config?: ConfigOverrides;
  readonly status: number;
  readonly param: string | null;
  readonly code?: string;
  readonly type?: string;
  /** A word the message must contain (case-insensitive); defaults to `param`. */
  readonly mentions?: string;
}

function responsesBody(extra: Record<string, unknown>): Record<string, unknown> {
  return { model: MODEL, input: "Tell me about rivers", ...extra };
}

function chatBody(extra: Record<string, unknown>): Record<string, unknown> {
  return { model: MODEL, messages: USER_MESSAGE, ...extra };
}

function embeddingsBody(extra: Record<string, unknown>): Record<string, unknown> {
  return { model: EMBEDDING_MODEL, input: "rivers", ...extra };
}

const seventeenPairs = Object.fromEntries(
  Array.from({ length: 17 }, (_, index) => [`key_${index}`, "value"]),
);
const longKey = "k".repeat(65);

// The body-size rows run with a 2048-byte limit; this body is far over it (and over the limit of
// the one-app run below, which must still let the 2049-input embeddings body through).
const OVERSIZED_BODY = responsesBody({ input: "x".repeat(20 * 1024) });
const SMALL_BODY_LIMIT: ConfigOverrides = { limits: { maxBodyBytes: 2048 } };
const SHARED_APP_CONFIG: ConfigOverrides = { limits: { maxBodyBytes: 16 * 1024 } };

const CASES: readonly BadInputCase[] = [
  // Bodies that are not a JSON object.
  {
    name: "malformed JSON",
    method: "POST",
    path: "/v1/responses",
    body: '{"model": "gpt-4o-mini", "input": ',
    status: 400,
    param: null,
    mentions: "JSON",
  },
  {
    name: "malformed JSON (chat)",
    method: "POST",
    path: "/v1/chat/completions",
    body: "{model: gpt-4o-mini}",
    status: 400,
    param: null,
    mentions: "JSON",
  },
  {
    name: "empty body",
    method: "POST",
    path: "/v1/embeddings",
    body: "",
    status: 400,
    param: null,
    mentions: "JSON",
  },
  {
    name: "JSON array body",
    method: "POST",
    path: "/v1/responses",
    body: "[1, 2]",
    status: 400,
    param: null,
    mentions: "JSON object",
  },
  {
    name: "JSON string body",
    method: "POST",
    path: "/v1/responses",
    body: '"hello"',
    status: 400,
    param: null,
    mentions: "JSON object",
  },
  {
    name: "JSON null body",
    method: "POST",
    path: "/v1/chat/completions",
    body: "null",
    status: 400,
    param: null,
    mentions: "JSON object",
  },
  {
    name: "JSON number body",
    method: "POST",
    path: "/v1/embeddings",
    body: "42",
    status: 400,
    param: null,
    mentions: "JSON object",
  },
  {
    name: "multipart body to a JSON route",
    method: "POST",
    path: "/v1/responses",
    body: '--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o-mini\r\n--xyz--\r\n',
    contentType: "multipart/form-data; boundary=xyz",
    status: 400,
    param: null,
    mentions: "multipart",
  },
  {
    name: "body over the size limit",
    method: "POST",
    path: "/v1/responses",
    body: OVERSIZED_BODY,
    config: SMALL_BODY_LIMIT,
    status: 413,
    param: null,
    mentions: "limit",
  },

  // POST /v1/responses: required fields and types.
  {
    name: "responses: missing model",
    method: "POST",
    path: "/v1/responses",
    body: { input: "hi" },
    status: 400,
    param: "model",
    code: "missing_required_parameter",
  },
  {
    name: "responses: model is a number",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ model: 4 }),
    status: 400,
    param: "model",
  },
  {
    name: "responses: model is empty",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ model: "" }),
    status: 400,
    param: "model",
  },
  {
    name: "responses: missing input",
    method: "POST",
    path: "/v1/responses",
    body: { model: MODEL },
    status: 400,
    param: "input",
    code: "missing_required_parameter",
  },
  {
    name: "responses: input is a number",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ input: 42 }),
    status: 400,
    param: "input",
  },
  {
    name: "responses: temperature is a string",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ temperature: "hot" }),
    status: 400,
    param: "temperature",
  },
  {
    name: "responses: stream is a string",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ stream: "yes" }),
    status: 400,
    param: "stream",
  },

  // Out-of-range numbers.
  {
    name: "responses: temperature 3",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ temperature: 3 }),
    status: 400,
    param: "temperature",
  },
  {
    name: "responses: top_p -1",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ top_p: -1 }),
    status: 400,
    param: "top_p",
  },
  {
    name: "responses: max_output_tokens 5 (minimum is 16)",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ max_output_tokens: 5 }),
    status: 400,
    param: "max_output_tokens",
  },
  {
    name: "responses: top_logprobs 21",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ top_logprobs: 21 }),
    status: 400,
    param: "top_logprobs",
  },

  // Unknown parameters and bad enum values.
  {
    name: "responses: unknown top-level parameter",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ frobnicate: true }),
    status: 400,
    param: "frobnicate",
    code: "unknown_parameter",
  },
  {
    name: "responses: unknown nested parameter in text",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ text: { format: { type: "text" }, colour: "blue" } }),
    status: 400,
    param: "text.colour",
    code: "unknown_parameter",
  },
  {
    name: "responses: unknown field on an input message",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ input: [{ role: "user", content: "hi", mood: "sunny" }] }),
    status: 400,
    param: "input[0].mood",
    code: "unknown_parameter",
  },
  {
    name: "responses: truncation 'sometimes'",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ truncation: "sometimes" }),
    status: 400,
    param: "truncation",
    code: "invalid_value",
  },
  {
    name: "responses: reasoning.effort 'max'",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ reasoning: { effort: "max" } }),
    status: 400,
    param: "reasoning.effort",
    code: "invalid_value",
  },
  {
    name: "responses: json_schema format with a bad name",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({
      text: { format: { type: "json_schema", name: "no spaces!", schema: { type: "object" } } },
    }),
    status: 400,
    param: "text.format.name",
  },
  {
    name: "responses: tool without a type",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ tools: [{ name: "lookup" }] }),
    status: 400,
    param: "tools[0].type",
    code: "missing_required_parameter",
  },

  // Metadata limits (16 pairs, 64-character keys, 512-character string values).
  {
    name: "responses: metadata with 17 pairs",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ metadata: seventeenPairs }),
    status: 400,
    param: "metadata",
  },
  {
    name: "responses: metadata key of 65 characters",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ metadata: { [longKey]: "v" } }),
    status: 400,
    param: `metadata.${longKey}`,
    mentions: "64",
  },
  {
    name: "responses: metadata value of 513 characters",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ metadata: { note: "v".repeat(513) } }),
    status: 400,
    param: "metadata.note",
    mentions: "512",
  },
  {
    name: "responses: metadata value that is not a string",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ metadata: { count: 3 } }),
    status: 400,
    param: "metadata.count",
    mentions: "string",
  },
  {
    name: "chat: metadata with 17 pairs",
    method: "POST",
    path: "/v1/chat/completions",
    body: chatBody({ metadata: seventeenPairs }),
    status: 400,
    param: "metadata",
  },

  // Input items.
  {
    name: "responses: input item of unknown type",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ input: [{ type: "telepathy", content: "hi" }] }),
    status: 400,
    param: "input[0].type",
  },
  {
    name: "responses: message item without role",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ input: [{ type: "message", content: "hi" }] }),
    status: 400,
    param: "input[0].role",
  },
  {
    name: "responses: easy message with role 'robot'",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ input: [{ role: "robot", content: "beep" }] }),
    status: 400,
    param: "input[0].role",
    code: "invalid_value",
  },
  {
    name: "responses: content part of unknown type",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({
      input: [{ role: "user", content: [{ type: "input_hologram", text: "hi" }] }],
    }),
    status: 400,
    param: "input[0].content[0].type",
  },
  {
    name: "responses: second item is bad",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({
      input: [
        { role: "user", content: "hi" },
        { type: "function_call_output", output: "42" },
      ],
    }),
    status: 400,
    param: "input[1].call_id",
    code: "missing_required_parameter",
  },
  {
    name: "responses: item_reference to an item that does not exist",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ input: [{ type: "item_reference", id: "msg_abc" }] }),
    status: 400,
    param: "input[0]",
    mentions: "msg_abc",
  },

  // Features ferry does not offer (yet), and previous turns that do not exist.
  {
    name: "responses: conversation param (unsupported)",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ conversation: "conv_123" }),
    status: 400,
    param: "conversation",
  },
  {
    name: "responses: background without store",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ background: true, store: false }),
    status: 400,
    param: "store",
  },
  {
    name: "responses: stream_options without stream",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ stream_options: { include_obfuscation: false } }),
    status: 400,
    param: "stream_options",
  },
  {
    name: "chat: stream_options without stream",
    method: "POST",
    path: "/v1/chat/completions",
    body: {
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      stream_options: { include_usage: true },
    },
    status: 400,
    param: "stream_options",
  },
  {
    name: "responses: unknown previous_response_id",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ previous_response_id: "resp_does_not_exist" }),
    status: 400,
    param: "previous_response_id",
    code: "previous_response_not_found",
    mentions: "resp_does_not_exist",
  },

  // Mock knobs with bad values.
  {
    name: "responses: metadata.mock_error 'abc'",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ metadata: { mock_error: "abc" } }),
    status: 400,
    param: "metadata.mock_error",
  },
  {
    name: "responses: metadata.mock_error '200' (not an error status)",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ metadata: { mock_error: "200" } }),
    status: 400,
    param: "metadata.mock_error",
  },
  {
    name: "responses: metadata.mock_delay_ms '-5'",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ metadata: { mock_delay_ms: "-5" } }),
    status: 400,
    param: "metadata.mock_delay_ms",
  },
  {
    name: "responses: metadata.mock_delay_ms '-5' on a stream request",
    method: "POST",
    path: "/v1/responses",
    body: responsesBody({ stream: true, metadata: { mock_delay_ms: "-5" } }),
    status: 400,
    param: "metadata.mock_delay_ms",
  },
  {
    name: "chat: metadata.mock_error 'abc' on a stream request",
    method: "POST",
    path: "/v1/chat/completions",
    body: chatBody({ stream: true, metadata: { mock_error: "abc" } }),
    status: 400,
    param: "metadata.mock_error",
  },

  // GET/DELETE /v1/responses/{id} and its input items.
  {
    name: "GET unknown response id",
    method: "GET",
    path: "/v1/responses/resp_missing",
    status: 404,
    param: null,
    mentions: "resp_missing",
  },
  {
    name: "DELETE unknown response id",
    method: "DELETE",
    path: "/v1/responses/resp_missing",
    status: 404,
    param: null,
    mentions: "resp_missing",
  },
  {
    name: "input_items of an unknown response id",
    method: "GET",
    path: "/v1/responses/resp_missing/input_items",
    status: 404,
    param: null,
    mentions: "resp_missing",
  },
  {
    name: "input_items: limit=0",
    method: "GET",
    path: "/v1/responses/{stored}/input_items?limit=0",
    status: 400,
    param: "limit",
  },
  {
    name: "input_items: limit=101",
    method: "GET",
    path: "/v1/responses/{stored}/input_items?limit=101",
    status: 400,
    param: "limit",
  },
  {
    name: "input_items: limit=abc",
    method: "GET",
    path: "/v1/responses/{stored}/input_items?limit=abc",
    status: 400,
    param: "limit",
  },
  {
    name: "input_items: order=up",
    method: "GET",
    path: "/v1/responses/{stored}/input_items?order=up",
    status: 400,
    param: "order",
    code: "invalid_value",
  },
  {
    name: "input_items: unknown after cursor",
    method: "GET",
    path: "/v1/responses/{stored}/input_items?after=msg_not_in_list",
    status: 400,
    param: "after",
    mentions: "msg_not_in_list",
  },

  // POST /v1/chat/completions.
  {
    name: "chat: missing model",
    method: "POST",
    path: "/v1/chat/completions",
    body: { messages: USER_MESSAGE },
    status: 400,
    param: "model",
    code: "missing_required_parameter",
  },
  {
    name: "chat: missing messages",
    method: "POST",
    path: "/v1/chat/completions",
    body: { model: MODEL },
    status: 400,
    param: "messages",
    code: "missing_required_parameter",
  },
  {
    name: "chat: empty messages array",
    method: "POST",
    path: "/v1/chat/completions",
    body: chatBody({ messages: [] }),
    status: 400,
    param: "messages",
  },
  {
    name: "chat: message with unknown role",
    method: "POST",
    path: "/v1/chat/completions",
    body: chatBody({ messages: [{ role: "robot", content: "beep" }] }),
    status: 400,
    param: "messages[0].role",
  },
  {
    name: "chat: user message without content",
    method: "POST",
    path: "/v1/chat/completions",
    body: chatBody({ messages: [{ role: "user" }] }),
    status: 400,
    param: "messages[0].content",
  },
  {
    name: "chat: n 0",
    method: "POST",
    path: "/v1/chat/completions",
    body: chatBody({ n: 0 }),
    status: 400,
    param: "n",
  },
  {
    name: "chat: temperature as a string",
    method: "POST",
    path: "/v1/chat/completions",
    body: chatBody({ temperature: "1" }),
    status: 400,
    param: "temperature",
  },
  {
    name: "chat: max_tokens 0",
    method: "POST",
    path: "/v1/chat/completions",
    body: chatBody({ max_tokens: 0 }),
    status: 400,
    param: "max_tokens",
  },
  {
    name: "chat: unknown parameter",
    method: "POST",
    path: "/v1/chat/completions",
    body: chatBody({ max_output_tokens: 50 }),
    status: 400,
    param: "max_output_tokens",
    code: "unknown_parameter",
  },
  {
    name: "chat: stream_options.include_usage is a string",
    method: "POST",
    path: "/v1/chat/completions",
    body: chatBody({ stream: true, stream_options: { include_usage: "yes" } }),
    status: 400,
    param: "stream_options.include_usage",
  },

  // POST /v1/embeddings.
  {
    name: "embeddings: missing model",
    method: "POST",
    path: "/v1/embeddings",
    body: { input: "rivers" },
    status: 400,
    param: "model",
    code: "missing_required_parameter",
  },
  {
    name: "embeddings: empty string input",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddingsBody({ input: "" }),
    status: 400,
    param: "input",
  },
  {
    name: "embeddings: empty string inside an input array",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddingsBody({ input: ["rivers", ""] }),
    status: 400,
    param: "input[1]",
  },
  {
    name: "embeddings: empty token array",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddingsBody({ input: [[]] }),
    status: 400,
    param: "input[0]",
  },
  {
    name: "embeddings: encoding_format 'hex'",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddingsBody({ encoding_format: "hex" }),
    status: 400,
    param: "encoding_format",
    code: "invalid_value",
  },
  {
    name: "embeddings: negative dimensions",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddingsBody({ dimensions: -8 }),
    status: 400,
    param: "dimensions",
  },
  {
    name: "embeddings: dimensions above the model's 1536",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddingsBody({ dimensions: 1537 }),
    status: 400,
    param: "dimensions",
    mentions: "1536",
  },
  {
    name: "embeddings: dimensions on text-embedding-ada-002",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddingsBody({ model: "text-embedding-ada-002", dimensions: 256 }),
    status: 400,
    param: "dimensions",
  },
  {
    name: "embeddings: unknown parameter",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddingsBody({ normalize: true }),
    status: 400,
    param: "normalize",
    code: "unknown_parameter",
  },

  // Routes and methods that do not exist.
  {
    name: "unknown route",
    method: "GET",
    path: "/v1/teleport",
    status: 404,
    param: null,
    mentions: "/v1/teleport",
  },
  {
    name: "unknown route outside /v1",
    method: "POST",
    path: "/responses",
    body: responsesBody({}),
    status: 404,
    param: null,
    mentions: "/responses",
  },
  {
    name: "DELETE /v1/models",
    method: "DELETE",
    path: "/v1/models",
    status: 404,
    param: null,
    mentions: "/v1/models",
  },
  {
    name: "POST /v1/models",
    method: "POST",
    path: "/v1/models",
    body: { id: MODEL },
    status: 404,
    param: null,
    mentions: "/v1/models",
  },
  {
    name: "GET /v1/chat/completions",
    method: "GET",
    path: "/v1/chat/completions",
    status: 404,
    param: null,
    mentions: "/v1/chat/completions",
  },
  {
    name: "PUT /v1/responses",
    method: "PUT",
    path: "/v1/responses",
    body: responsesBody({}),
    status: 404,
    param: null,
    mentions: "/v1/responses",
  },
  {
    name: "embeddings: 2049 inputs (at most 2048)",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddingsBody({ input: Array.from({ length: 2049 }, (_, index) => `text ${index}`) }),
    status: 400,
    param: "input",
    mentions: "2048",
  },
];

/** Stores one response so the input_items rows have a real id to page through. */
async function storeResponse(t: TestContext): Promise<string> {
  const res = await t.post("/v1/responses", responsesBody({}));
  expect(res.status, await res.clone().text()).toBe(200);
  const body = (await res.json()) as { id: string };
  return body.id;
}

async function send(t: TestContext, row: BadInputCase, storedId: string): Promise<Response> {
  const init: RequestInit = {
    method: row.method,
    headers: { "content-type": row.contentType ?? "application/json" },
  };
  if (row.body !== undefined) {
    init.body = typeof row.body === "string" ? row.body : JSON.stringify(row.body);
  }
  return t.app.request(row.path.replace("{stored}", storedId), init);
}

interface ErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function expectErrorEnvelope(res: Response, row: BadInputCase): Promise<void> {
  const text = await res.clone().text();
  expect(res.status, `${row.name}: ${text}`).toBe(row.status);
  expect(res.headers.get("content-type"), row.name).toMatch(/^application\/json/);
  const body = JSON.parse(text) as ErrorEnvelope;
  expectMatchesComponent("ErrorResponse", body);
  expect(body.error.type, text).toBe(row.type ?? "invalid_request_error");
  expect(body.error.param, text).toBe(row.param);
  if (row.code !== undefined) {
    expect(body.error.code, text).toBe(row.code);
  }
  const mentions = row.mentions ?? row.param;
  expect(body.error.message.length, text).toBeGreaterThan(10);
  if (mentions !== null) {
    expect(body.error.message.toLowerCase(), text).toContain(mentions.toLowerCase());
  }
}

describe("malformed requests get a 4xx in OpenAI's error envelope", () => {
  let t: TestContext;
  beforeEach(() => {
    t = createTestContext();
  });
  afterEach(() => t.close());

  it("has a table of at least 40 cases with unique names", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CASES.map((row) => row.name)).size).toBe(CASES.length);
  });

  it.each(CASES)("$name → $status", async (row) => {
    const world = row.config === undefined ? t : createTestContext({ config: row.config });
    try {
      const storedId = row.path.includes("{stored}") ? await storeResponse(world) : "";
      await expectErrorEnvelope(await send(world, row, storedId), row);
    } finally {
      if (world !== t) {
        world.close();
      }
    }
  });

  it("every error carries an x-request-id", async () => {
    const res = await t.get("/v1/responses/resp_missing");
    expect(res.status).toBe(404);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
  });

  it("a final 4xx tells the SDK not to retry", async () => {
    const res = await t.post("/v1/responses", responsesBody({ temperature: 9 }));
    expect(res.status, await res.clone().text()).toBe(400);
    expect(res.headers.get("x-should-retry")).toBe("false");
  });
});

describe("one app after every malformed request", () => {
  let t: TestContext;
  beforeEach(() => {
    // A limit the 2049-input body fits under but the oversized body does not.
    t = createTestContext({ config: SHARED_APP_CONFIG });
  });
  afterEach(() => t.close());

  it("still answers a valid request", async () => {
    const storedId = await storeResponse(t);
    for (const row of CASES) {
      const res = await send(t, row, storedId);
      const text = await res.text();
      expect(res.status, `${row.name}: ${text}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${row.name}: ${text}`).toBeLessThan(500);
      expect(res.headers.get("content-type"), row.name).toMatch(/^application\/json/);
    }
    const res = await t.post("/v1/responses", responsesBody({}));
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as { object: string; status: string };
    expect(body).toMatchObject({ object: "response", status: "completed" });
  });
});
