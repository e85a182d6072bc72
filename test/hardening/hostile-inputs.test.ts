import { readdirSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createFixtures, createWorld, send, snapshot, type World } from "./hostile-helpers.js";

/**
 * A corpus of hostile inputs across every route. Each must get a 4xx in OpenAI's error envelope
 * (never a 500, a hang or a reset), the server must keep answering, and the objects already
 * stored must come out unchanged. Paths and bodies may name stored objects: {response}, {file},
 * {batch}, {stream}.
 */

interface HostileCase {
  readonly name: string;
  readonly method: "GET" | "POST" | "PATCH" | "DELETE" | "PUT";
  readonly path: string;
  /** JSON (serialised), a raw string or bytes (sent as they are), or FormData. */
  readonly body?: unknown;
  /** The request's Content-Type; JSON by default when there is a body, null for none. */
  readonly contentType?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
  readonly status: number;
  /** Runs in a world with API keys (the auth cases); the others run in open mode. */
  readonly isKeyed?: boolean;
}

const MB = 1024 * 1024;
const MODEL = "gpt-4o-mini";
const EMBEDDING_MODEL = "text-embedding-3-small";
const USER = [{ role: "user", content: "hi" }];
const SQL = "' OR 1=1 --";
const SQL_PATH = encodeURIComponent(SQL);
const TRAVERSAL = "..%2F..%2Fetc%2Fpasswd";
const DOT_TRAVERSAL = "%2e%2e%2f%2e%2e%2fetc%2fpasswd";
const HUGE = "m".repeat(5 * MB);

function nested(levels: number, open: string, close: string, inner = "1"): string {
  return open.repeat(levels) + inner + close.repeat(levels);
}
const DEEP_OBJECT = nested(10_000, '{"a":', "}");
const DEEP_ARRAY = nested(10_000, "[", "]");

function bytes(...parts: (string | number[])[]): Uint8Array {
  return Buffer.concat(
    parts.map((part) => (typeof part === "string" ? Buffer.from(part) : Buffer.from(part))),
  );
}

function form(fields: [string, string][], file?: { name: string; text: string }): FormData {
  const data = new FormData();
  for (const [name, value] of fields) {
    data.append(name, value);
  }
  if (file !== undefined) {
    data.append("file", new Blob([file.text]), file.name);
  }
  return data;
}

/** A part whose header is malformed (NUL), then a file part, sent in two chunks split inside it. */
function malformedThenSplit(): { chunks: Uint8Array[] } {
  const part = (disposition: string, content: string) =>
    `--b\r\nContent-Disposition: form-data; ${disposition}\r\n\r\n${content}\r\n`;
  const text =
    part('name="purpose"', "user_data") +
    part('name="file"; filename="a\u0000b"', "x".repeat(500)) +
    part('name="file"; filename="second.jsonl"', "second") +
    "--b--\r\n";
  const bytes = Buffer.from(text);
  const cut = text.lastIndexOf("second") + 2;
  return { chunks: [bytes.subarray(0, cut), bytes.subarray(cut)] };
}

const responses = (extra: Record<string, unknown>) => ({ model: MODEL, input: "hi", ...extra });
const chat = (extra: Record<string, unknown>) => ({ model: MODEL, messages: USER, ...extra });
const embeddings = (extra: Record<string, unknown>) => ({
  model: EMBEDDING_MODEL,
  input: "hi",
  ...extra,
});
const line = (customId: string) =>
  JSON.stringify({
    custom_id: customId,
    method: "POST",
    url: "/v1/chat/completions",
    body: chat({}),
  });

const CASES: readonly HostileCase[] = [
  // POST /v1/responses: structure
  {
    name: "responses: 10,000 nested objects as the body",
    method: "POST",
    path: "/v1/responses",
    body: DEEP_OBJECT,
    status: 400,
  },
  {
    name: "responses: 100,000 nested arrays as the body",
    method: "POST",
    path: "/v1/responses",
    body: nested(100_000, "[", "]"),
    status: 400,
  },
  {
    name: "responses: 10,000 nested arrays as input",
    method: "POST",
    path: "/v1/responses",
    body: `{"model":"${MODEL}","input":${DEEP_ARRAY}}`,
    status: 400,
  },
  {
    name: "responses: 10,000 nested objects in a tool's parameters",
    method: "POST",
    path: "/v1/responses",
    body: `{"model":"${MODEL}","input":"hi","tools":[{"type":"function","name":"f","parameters":${DEEP_OBJECT}}]}`,
    status: 400,
  },
  {
    name: "responses: 10,000 nested objects in a json_schema",
    method: "POST",
    path: "/v1/responses",
    body: `{"model":"${MODEL}","input":"hi","text":{"format":{"type":"json_schema","name":"n","schema":${DEEP_OBJECT}}}}`,
    status: 400,
  },
  {
    name: "responses: a JSON array as the body",
    method: "POST",
    path: "/v1/responses",
    body: [responses({})],
    status: 400,
  },
  {
    name: "responses: null as the body",
    method: "POST",
    path: "/v1/responses",
    body: "null",
    status: 400,
  },
  {
    name: "responses: a JSON string as the body",
    method: "POST",
    path: "/v1/responses",
    body: '"hi"',
    status: 400,
  },
  {
    name: "responses: an object where input takes a string or array",
    method: "POST",
    path: "/v1/responses",
    body: responses({ input: { text: "hi" } }),
    status: 400,
  },
  {
    name: "responses: an array where metadata takes an object",
    method: "POST",
    path: "/v1/responses",
    body: responses({ metadata: ["a", "b"] }),
    status: 400,
  },
  {
    name: "responses: an object nested in metadata",
    method: "POST",
    path: "/v1/responses",
    body: responses({ metadata: { a: { b: "c" } } }),
    status: 400,
  },
  {
    name: "responses: __proto__ as a key",
    method: "POST",
    path: "/v1/responses",
    body: `{"model":"${MODEL}","input":"hi","__proto__":{"admin":true}}`,
    status: 400,
  },
  // POST /v1/responses: sizes, numbers, enums
  {
    name: "responses: a 5 MB model name",
    method: "POST",
    path: "/v1/responses",
    body: responses({ model: HUGE }),
    status: 400,
  },
  {
    name: "responses: an input over the body limit",
    method: "POST",
    path: "/v1/responses",
    body: responses({ input: "x".repeat(33 * MB) }),
    status: 413,
  },
  {
    name: "responses: max_output_tokens=1e20",
    method: "POST",
    path: "/v1/responses",
    body: responses({ max_output_tokens: 1e20 }),
    status: 400,
  },
  {
    name: "responses: max_output_tokens=-1",
    method: "POST",
    path: "/v1/responses",
    body: responses({ max_output_tokens: -1 }),
    status: 400,
  },
  {
    name: "responses: temperature=1e400 (Infinity)",
    method: "POST",
    path: "/v1/responses",
    body: `{"model":"${MODEL}","input":"hi","temperature":1e400}`,
    status: 400,
  },
  {
    name: "responses: temperature='NaN'",
    method: "POST",
    path: "/v1/responses",
    body: responses({ temperature: "NaN" }),
    status: 400,
  },
  {
    name: "responses: an unknown truncation value",
    method: "POST",
    path: "/v1/responses",
    body: responses({ truncation: "sideways" }),
    status: 400,
  },
  {
    name: "responses: an unknown reasoning effort",
    method: "POST",
    path: "/v1/responses",
    body: responses({ reasoning: { effort: "maximum" } }),
    status: 400,
  },
  {
    name: "responses: stream='yes'",
    method: "POST",
    path: "/v1/responses",
    body: responses({ stream: "yes" }),
    status: 400,
  },
  {
    name: "responses: duplicate keys, the last one invalid",
    method: "POST",
    path: "/v1/responses",
    body: `{"model":"${MODEL}","input":"hi","temperature":1,"temperature":9}`,
    status: 400,
  },
  {
    name: "responses: duplicate model keys, the last one a number",
    method: "POST",
    path: "/v1/responses",
    body: `{"model":"${MODEL}","model":42,"input":"hi"}`,
    status: 400,
  },
  {
    // Once accepted: `"constructor" in WINDOW_SECONDS` is true, and expires_at became text.
    name: "responses: 'constructor' as metadata.completion_window",
    method: "POST",
    path: "/v1/responses",
    body: responses({ metadata: { completion_window: "constructor" } }),
    status: 400,
  },
  {
    name: "responses: '__proto__' as metadata.completion_window",
    method: "POST",
    path: "/v1/responses",
    body: responses({ metadata: { completion_window: "__proto__" } }),
    status: 400,
  },
  {
    name: "responses: an SQL-looking previous_response_id",
    method: "POST",
    path: "/v1/responses",
    body: responses({ previous_response_id: SQL }),
    status: 400,
  },
  // POST /v1/responses: bytes and content types
  {
    name: "responses: invalid UTF-8 inside a string",
    method: "POST",
    path: "/v1/responses",
    body: bytes(`{"model":"${MODEL}","input":"`, [0xff, 0xfe, 0xc3], '"}'),
    status: 400,
  },
  {
    name: "responses: invalid UTF-8 as the whole body",
    method: "POST",
    path: "/v1/responses",
    body: bytes([0xc0, 0xaf, 0xed, 0xa0, 0x80]),
    status: 400,
  },
  {
    name: "responses: a NUL byte in the model",
    method: "POST",
    path: "/v1/responses",
    body: responses({ model: `${MODEL}\u0000--` }),
    status: 400,
  },
  {
    name: "responses: a raw NUL byte between tokens",
    method: "POST",
    path: "/v1/responses",
    body: bytes(`{"model":"${MODEL}",`, [0], '"input":"hi"}'),
    status: 400,
  },
  {
    name: "responses: text/plain",
    method: "POST",
    path: "/v1/responses",
    body: responses({}),
    contentType: "text/plain",
    status: 400,
  },
  {
    name: "responses: application/xml",
    method: "POST",
    path: "/v1/responses",
    body: "<model>gpt</model>",
    contentType: "application/xml",
    status: 400,
  },
  {
    name: "responses: multipart to a JSON route",
    method: "POST",
    path: "/v1/responses",
    body: form([
      ["model", MODEL],
      ["input", "hi"],
    ]),
    contentType: null,
    status: 400,
  },
  // Other /v1/responses routes
  {
    name: "responses list: limit=1e308",
    method: "GET",
    path: "/v1/responses?limit=1e308",
    status: 400,
  },
  { name: "responses list: limit=-1", method: "GET", path: "/v1/responses?limit=-1", status: 400 },
  {
    name: "responses list: an SQL-looking after",
    method: "GET",
    path: `/v1/responses?after=${SQL_PATH}`,
    status: 400,
  },
  {
    name: "responses get: an SQL-looking id",
    method: "GET",
    path: `/v1/responses/${SQL_PATH}`,
    status: 404,
  },
  {
    name: "responses get: %2e%2e%2f traversal in the id",
    method: "GET",
    path: `/v1/responses/${DOT_TRAVERSAL}`,
    status: 404,
  },
  {
    name: "responses get: starting_after=NaN",
    method: "GET",
    path: "/v1/responses/{response}?stream=true&starting_after=NaN",
    status: 400,
  },
  {
    name: "responses get: starting_after=-1",
    method: "GET",
    path: "/v1/responses/{response}?stream=true&starting_after=-1",
    status: 400,
  },
  {
    name: "responses get: stream=maybe",
    method: "GET",
    path: "/v1/responses/{response}?stream=maybe",
    status: 400,
  },
  {
    name: "responses get: stream=true on a response that did not stream",
    method: "GET",
    path: "/v1/responses/{response}?stream=true",
    status: 400,
  },
  {
    name: "responses input_items: limit=0",
    method: "GET",
    path: "/v1/responses/{response}/input_items?limit=0",
    status: 400,
  },
  {
    name: "responses input_items: an unknown order",
    method: "GET",
    path: "/v1/responses/{response}/input_items?order=sideways",
    status: 400,
  },
  {
    name: "responses delete: an SQL-looking id",
    method: "DELETE",
    path: `/v1/responses/${SQL_PATH}`,
    status: 404,
  },
  {
    name: "responses cancel: a synchronous response",
    method: "POST",
    path: "/v1/responses/{response}/cancel",
    status: 400,
  },
  {
    name: "responses cancel: traversal in the id",
    method: "POST",
    path: `/v1/responses/${TRAVERSAL}/cancel`,
    status: 404,
  },
  // POST /v1/chat/completions
  {
    name: "chat: 10,000 nested objects in a tool",
    method: "POST",
    path: "/v1/chat/completions",
    body: `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":${DEEP_OBJECT}}]}`,
    status: 400,
  },
  {
    name: "chat: an object where messages takes an array",
    method: "POST",
    path: "/v1/chat/completions",
    body: chat({ messages: { role: "user", content: "hi" } }),
    status: 400,
  },
  {
    name: "chat: no messages",
    method: "POST",
    path: "/v1/chat/completions",
    body: chat({ messages: [] }),
    status: 400,
  },
  {
    name: "chat: an unknown role",
    method: "POST",
    path: "/v1/chat/completions",
    body: chat({ messages: [{ role: "root", content: "hi" }] }),
    status: 400,
  },
  {
    name: "chat: a 5 MB model name",
    method: "POST",
    path: "/v1/chat/completions",
    body: chat({ model: HUGE }),
    status: 400,
  },
  {
    name: "chat: n=1e9",
    method: "POST",
    path: "/v1/chat/completions",
    body: chat({ n: 1e9 }),
    status: 400,
  },
  {
    name: "chat: max_tokens=1e20",
    method: "POST",
    path: "/v1/chat/completions",
    body: chat({ max_tokens: 1e20 }),
    status: 400,
  },
  {
    name: "chat: logit_bias of 1e308",
    method: "POST",
    path: "/v1/chat/completions",
    body: chat({ logit_bias: { "50256": 1e308 } }),
    status: 400,
  },
  {
    name: "chat: five stop sequences",
    method: "POST",
    path: "/v1/chat/completions",
    body: chat({ stop: ["a", "b", "c", "d", "e"] }),
    status: 400,
  },
  {
    name: "chat: an unknown response_format",
    method: "POST",
    path: "/v1/chat/completions",
    body: chat({ response_format: { type: "yaml" } }),
    status: 400,
  },
  {
    name: "chat: text/plain",
    method: "POST",
    path: "/v1/chat/completions",
    body: chat({}),
    contentType: "text/plain;charset=UTF-8",
    status: 400,
  },
  // POST /v1/embeddings
  {
    name: "embeddings: an empty input list",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddings({ input: [] }),
    status: 400,
  },
  {
    name: "embeddings: a negative token",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddings({ input: [[-1]] }),
    status: 400,
  },
  {
    name: "embeddings: an object where input takes text",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddings({ input: { text: "hi" } }),
    status: 400,
  },
  {
    name: "embeddings: 2,049 inputs",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddings({ input: Array.from({ length: 2049 }, () => "a") }),
    status: 400,
  },
  {
    name: "embeddings: an unknown encoding_format",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddings({ encoding_format: "hex" }),
    status: 400,
  },
  {
    name: "embeddings: dimensions=1e20",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddings({ dimensions: 1e20 }),
    status: 400,
  },
  {
    name: "embeddings: dimensions=0",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddings({ dimensions: 0 }),
    status: 400,
  },
  {
    name: "embeddings: a 5 MB model name",
    method: "POST",
    path: "/v1/embeddings",
    body: embeddings({ model: HUGE }),
    status: 400,
  },
  // Files
  {
    name: "files upload: JSON instead of multipart",
    method: "POST",
    path: "/v1/files",
    body: { purpose: "batch", file: "x" },
    status: 400,
  },
  {
    name: "files upload: text/plain",
    method: "POST",
    path: "/v1/files",
    body: "hello",
    contentType: "text/plain",
    status: 400,
  },
  {
    name: "files upload: multipart without a boundary",
    method: "POST",
    path: "/v1/files",
    body: "--x\r\n",
    contentType: "multipart/form-data",
    status: 400,
  },
  {
    name: "files upload: a truncated multipart body",
    method: "POST",
    path: "/v1/files",
    body: '--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch',
    contentType: "multipart/form-data; boundary=b",
    status: 400,
  },
  {
    name: "files upload: traversal as the purpose",
    method: "POST",
    path: "/v1/files",
    body: form([["purpose", "../../etc/passwd"]], { name: "a.txt", text: "x" }),
    contentType: null,
    status: 400,
  },
  {
    // Once crashed the server: busboy's 'error' on a skipped file part had no listener.
    name: "files upload: a body that ends inside a refused file part",
    method: "POST",
    path: "/v1/files",
    body: '--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="x.txt"\r\n\r\nabc',
    contentType: "multipart/form-data; boundary=b",
    status: 400,
  },
  {
    name: "files upload: a body that ends inside a file part of the wrong name",
    method: "POST",
    path: "/v1/files",
    body: '--b\r\nContent-Disposition: form-data; name="upload"; filename="x.txt"\r\n\r\nabc',
    contentType: "multipart/form-data; boundary=b",
    status: 400,
  },
  {
    // Once hung for good: busboy hands out the second part after the first one's malformed
    // header, and with the body split inside it, that part never ended.
    name: "files upload: a malformed part header, then a file part cut between two chunks",
    method: "POST",
    path: "/v1/files",
    body: malformedThenSplit(),
    contentType: "multipart/form-data; boundary=b",
    status: 400,
  },
  {
    name: "files upload: a NUL byte in the file name",
    method: "POST",
    path: "/v1/files",
    body: form([["purpose", "user_data"]], { name: "a\u0000.txt", text: "x" }),
    contentType: null,
    status: 400,
  },
  {
    name: "files upload: a NUL byte in the purpose",
    method: "POST",
    path: "/v1/files",
    body: form([["purpose", "batch\u0000"]], { name: "a.jsonl", text: "x" }),
    contentType: null,
    status: 400,
  },
  {
    name: "files upload: a traversal file name that is not .jsonl for a batch",
    method: "POST",
    path: "/v1/files",
    body: form([["purpose", "batch"]], { name: "../../etc/passwd", text: "x" }),
    contentType: null,
    status: 400,
  },
  {
    name: "files upload: expires_after seconds=1e308",
    method: "POST",
    path: "/v1/files",
    body: form(
      [
        ["purpose", "user_data"],
        ["expires_after[anchor]", "created_at"],
        ["expires_after[seconds]", "1e308"],
      ],
      { name: "a.txt", text: "x" },
    ),
    contentType: null,
    status: 400,
  },
  {
    name: "files upload: expires_after seconds=-1",
    method: "POST",
    path: "/v1/files",
    body: form(
      [
        ["purpose", "user_data"],
        ["expires_after[anchor]", "created_at"],
        ["expires_after[seconds]", "-1"],
      ],
      { name: "a.txt", text: "x" },
    ),
    contentType: null,
    status: 400,
  },
  {
    name: "files upload: an empty file",
    method: "POST",
    path: "/v1/files",
    body: form([["purpose", "user_data"]], { name: "a.txt", text: "" }),
    contentType: null,
    status: 400,
  },
  { name: "files list: limit=-1", method: "GET", path: "/v1/files?limit=-1", status: 400 },
  { name: "files list: limit=1e308", method: "GET", path: "/v1/files?limit=1e308", status: 400 },
  {
    name: "files list: a traversal purpose",
    method: "GET",
    path: `/v1/files?purpose=${TRAVERSAL}`,
    status: 400,
  },
  {
    name: "files list: an SQL-looking after",
    method: "GET",
    path: `/v1/files?after=${SQL_PATH}`,
    status: 400,
  },
  {
    name: "files get: traversal in the id",
    method: "GET",
    path: `/v1/files/${TRAVERSAL}`,
    status: 404,
  },
  {
    name: "files content: traversal in the id",
    method: "GET",
    path: `/v1/files/${TRAVERSAL}/content`,
    status: 404,
  },
  {
    name: "files content: %2e%2e%2f traversal to the database",
    method: "GET",
    path: "/v1/files/%2e%2e%2fferry.db/content",
    status: 404,
  },
  {
    name: "files content: an SQL-looking id",
    method: "GET",
    path: `/v1/files/${SQL_PATH}/content`,
    status: 404,
  },
  {
    name: "files content: a stored id with a NUL byte",
    method: "GET",
    path: "/v1/files/{file}%00/content",
    status: 404,
  },
  {
    name: "files delete: an SQL-looking id",
    method: "DELETE",
    path: `/v1/files/${SQL_PATH}`,
    status: 404,
  },
  {
    name: "files delete: traversal in the id",
    method: "DELETE",
    path: `/v1/files/${DOT_TRAVERSAL}`,
    status: 404,
  },
  // Batches
  {
    name: "batches create: traversal as input_file_id",
    method: "POST",
    path: "/v1/batches",
    body: {
      input_file_id: "../../etc/passwd",
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    },
    status: 400,
  },
  {
    name: "batches create: an SQL-looking input_file_id",
    method: "POST",
    path: "/v1/batches",
    body: { input_file_id: SQL, endpoint: "/v1/chat/completions", completion_window: "24h" },
    status: 400,
  },
  {
    name: "batches create: a file of the wrong purpose",
    method: "POST",
    path: "/v1/batches",
    body: { input_file_id: "{file}", endpoint: "/v1/chat/completions", completion_window: "24h" },
    status: 400,
  },
  {
    name: "batches create: an unknown completion_window",
    method: "POST",
    path: "/v1/batches",
    body: { requests: [{ body: chat({}) }], completion_window: "48h" },
    status: 400,
  },
  {
    name: "batches create: an unknown endpoint",
    method: "POST",
    path: "/v1/batches",
    body: { requests: [{ body: chat({}) }], endpoint: "/v1/../../etc" },
    status: 400,
  },
  {
    name: "batches create: an object where requests takes an array",
    method: "POST",
    path: "/v1/batches",
    body: { requests: { body: chat({}) } },
    status: 400,
  },
  {
    name: "batches create: no requests",
    method: "POST",
    path: "/v1/batches",
    body: { requests: [] },
    status: 400,
  },
  {
    name: "batches create: 10,000 nested objects in a request",
    method: "POST",
    path: "/v1/batches",
    body: `{"requests":[{"body":{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"x":${DEEP_OBJECT}}}]}`,
    status: 400,
  },
  {
    name: "batches create: output_expires_after seconds=1e308",
    method: "POST",
    path: "/v1/batches",
    body: {
      requests: [{ body: chat({}) }],
      output_expires_after: { anchor: "created_at", seconds: 1e308 },
    },
    status: 400,
  },
  {
    name: "batches create: text/plain",
    method: "POST",
    path: "/v1/batches",
    body: { requests: [{ body: chat({}) }] },
    contentType: "text/plain",
    status: 400,
  },
  {
    name: "batches create: JSONL with no usable line",
    method: "POST",
    path: "/v1/batches",
    body: bytes([0xff, 0xfe, 0x00], "\n{}\n"),
    contentType: "application/jsonl",
    status: 400,
  },
  {
    name: "batches create: JSONL content lines without a model",
    method: "POST",
    path: "/v1/batches",
    body: '{"content":"hi"}\n',
    contentType: "application/jsonl",
    status: 400,
  },
  {
    name: "batches create: JSONL with an unknown endpoint",
    method: "POST",
    path: "/v1/batches?endpoint=/v1/evil",
    body: `${line("a")}\n`,
    contentType: "application/x-ndjson",
    status: 400,
  },
  {
    name: "batches create: JSONL with a 10,000-deep line",
    method: "POST",
    path: "/v1/batches",
    body: `{"url":"/v1/chat/completions","body":${DEEP_OBJECT}}\n`,
    contentType: "application/jsonl",
    status: 400,
  },
  {
    name: "batches list: limit=1e308",
    method: "GET",
    path: "/v1/batches?limit=1e308",
    status: 400,
  },
  { name: "batches list: limit=-1", method: "GET", path: "/v1/batches?limit=-1", status: 400 },
  {
    name: "batches list: an SQL-looking after",
    method: "GET",
    path: `/v1/batches?after=${SQL_PATH}`,
    status: 400,
  },
  {
    name: "batches get: an SQL-looking id",
    method: "GET",
    path: `/v1/batches/${SQL_PATH}`,
    status: 404,
  },
  {
    name: "batches get: traversal in the id",
    method: "GET",
    path: `/v1/batches/${DOT_TRAVERSAL}`,
    status: 404,
  },
  {
    name: "batches cancel: an SQL-looking id",
    method: "POST",
    path: `/v1/batches/${SQL_PATH}/cancel`,
    status: 404,
  },
  {
    name: "batches cancel: a batch that has completed",
    method: "POST",
    path: "/v1/batches/{batch}/cancel",
    status: 409,
  },
  {
    name: "batches results: an SQL-looking id",
    method: "GET",
    path: `/v1/batches/${SQL_PATH}/results`,
    status: 404,
  },
  {
    name: "batches results.jsonl: traversal in the id",
    method: "GET",
    path: `/v1/batches/${TRAVERSAL}/results.jsonl`,
    status: 404,
  },
  // Streams
  {
    name: "streams create: a 5 MB name",
    method: "POST",
    path: "/v1/streams",
    body: { name: HUGE },
    status: 400,
  },
  {
    name: "streams create: an empty name",
    method: "POST",
    path: "/v1/streams",
    body: { name: "   " },
    status: 400,
  },
  {
    name: "streams create: an unknown window",
    method: "POST",
    path: "/v1/streams",
    body: { name: "s", window: "2h" },
    status: 400,
  },
  {
    name: "streams create: an array as the body",
    method: "POST",
    path: "/v1/streams",
    body: [{ name: "s" }],
    status: 400,
  },
  {
    name: "streams create: 10,000 nested objects",
    method: "POST",
    path: "/v1/streams",
    body: `{"name":"s","x":${DEEP_OBJECT}}`,
    status: 400,
  },
  {
    name: "streams create: multipart",
    method: "POST",
    path: "/v1/streams",
    body: form([["name", "s"]]),
    contentType: null,
    status: 400,
  },
  {
    name: "streams list: limit=1e308",
    method: "GET",
    path: "/v1/streams?limit=1e308",
    status: 400,
  },
  {
    name: "streams list: an SQL-looking after",
    method: "GET",
    path: `/v1/streams?after=${SQL_PATH}`,
    status: 400,
  },
  {
    name: "streams get: an SQL-looking id",
    method: "GET",
    path: `/v1/streams/${SQL_PATH}`,
    status: 404,
  },
  {
    name: "streams patch: an unknown status",
    method: "PATCH",
    path: "/v1/streams/{stream}",
    body: { status: "deleted" },
    status: 400,
  },
  {
    name: "streams patch: duplicate keys, the last one unknown",
    method: "PATCH",
    path: "/v1/streams/{stream}",
    body: '{"status":"archived","status":"purged"}',
    status: 400,
  },
  {
    name: "streams patch: an array as the body",
    method: "PATCH",
    path: "/v1/streams/{stream}",
    body: [{ status: "archived" }],
    status: 400,
  },
  {
    name: "streams patch: an SQL-looking id",
    method: "PATCH",
    path: `/v1/streams/${SQL_PATH}`,
    body: { status: "archived" },
    status: 404,
  },
  {
    name: "streams events: wait_ms=NaN",
    method: "GET",
    path: "/v1/streams/{stream}/events?wait_ms=NaN",
    status: 400,
  },
  {
    name: "streams events: wait_ms=1e308",
    method: "GET",
    path: "/v1/streams/{stream}/events?wait_ms=1e308",
    status: 400,
  },
  {
    name: "streams events: wait_ms=-1",
    method: "GET",
    path: "/v1/streams/{stream}/events?wait_ms=-1",
    status: 400,
  },
  {
    name: "streams events: limit=0",
    method: "GET",
    path: "/v1/streams/{stream}/events?limit=0",
    status: 400,
  },
  {
    name: "streams events: traversal as the cursor",
    method: "GET",
    path: `/v1/streams/{stream}/events?starting_after=${TRAVERSAL}`,
    status: 400,
  },
  {
    name: "streams events: an SQL-looking cursor",
    method: "GET",
    path: `/v1/streams/{stream}/events?ending_before=cmpl_${SQL_PATH}`,
    status: 400,
  },
  {
    name: "streams events: both cursors",
    method: "GET",
    path: "/v1/streams/{stream}/events?starting_after=cmpl_0000000000000001&ending_before=cmpl_0000000000000002",
    status: 400,
  },
  {
    name: "streams events: an SQL-looking stream id",
    method: "GET",
    path: `/v1/streams/${SQL_PATH}/events`,
    status: 404,
  },
  // Models and routes that do not exist
  {
    name: "models get: a 10,000-character name",
    method: "GET",
    path: `/v1/models/${"m".repeat(10_000)}`,
    status: 404,
  },
  {
    name: "models get: a NUL byte in the name",
    method: "GET",
    path: "/v1/models/gpt%00",
    status: 404,
  },
  {
    name: "models: POST is not a route",
    method: "POST",
    path: "/v1/models",
    body: {},
    status: 404,
  },
  {
    name: "models: DELETE is not a route",
    method: "DELETE",
    path: `/v1/models/${MODEL}`,
    status: 404,
  },
  {
    name: "unknown: traversal above /v1",
    method: "GET",
    path: "/v1/%2e%2e/%2e%2e/etc/passwd",
    status: 404,
  },
  {
    name: "unknown: PUT /v1/responses",
    method: "PUT",
    path: "/v1/responses",
    body: responses({}),
    status: 404,
  },
  // Auth (a server with keys)
  {
    name: "auth: no key",
    method: "GET",
    path: "/v1/auth/me",
    headers: {},
    status: 401,
    isKeyed: true,
  },
  {
    name: "auth: an SQL-looking bearer key",
    method: "GET",
    path: "/v1/auth/me",
    headers: { authorization: `Bearer ${SQL}` },
    status: 401,
    isKeyed: true,
  },
  {
    name: "auth: a 100 kB X-API-Key",
    method: "GET",
    path: "/v1/responses",
    headers: { "x-api-key": `sk-${"k".repeat(100_000)}` },
    status: 401,
    isKeyed: true,
  },
  {
    name: "auth: Basic credentials",
    method: "GET",
    path: "/v1/files",
    headers: { authorization: "Basic YWRtaW46YWRtaW4=" },
    status: 401,
    isKeyed: true,
  },
  {
    name: "auth: an empty bearer",
    method: "POST",
    path: "/v1/responses",
    body: responses({}),
    headers: { authorization: "Bearer " },
    status: 401,
    isKeyed: true,
  },
  {
    name: "auth: a latin-1 byte in the key",
    method: "GET",
    path: "/v1/batches",
    headers: { authorization: "Bearer sk-\u00ff\u00fe" },
    status: 401,
    isKeyed: true,
  },
  {
    name: "auth login: a garbage body",
    method: "POST",
    path: "/v1/auth/login",
    body: '{"user":',
    status: 404,
    isKeyed: true,
  },
];

async function expectEnvelope(res: Response, row: HostileCase): Promise<void> {
  const text = await res.text();
  expect(res.status, `${row.name}: ${text.slice(0, 500)}`).toBe(row.status);
  expect(res.headers.get("content-type"), row.name).toMatch(/^application\/json/);
  const body = JSON.parse(text) as unknown;
  expectMatchesComponent("ErrorResponse", body);
}

/** A world that stays up: a plain request and the health check still answer. */
async function expectStillServing(world: World): Promise<void> {
  const health = await world.t.app.request("/health");
  expect(health.status).toBe(200);
  const res = await send(world, { method: "POST", path: "/v1/responses", body: responses({}) });
  expect(res.status, await res.clone().text()).toBe(200);
}

describe("hostile inputs get a 4xx in OpenAI's error envelope", () => {
  let world: World | null = null;
  afterEach(async () => {
    await world?.t.close();
    world = null;
  });

  it("has at least 60 cases with unique names, across every route", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CASES.map((row) => row.name)).size).toBe(CASES.length);
    const prefixes = new Set(CASES.map((row) => row.name.split(/[ :]/)[0]));
    for (const family of [
      "responses",
      "chat",
      "embeddings",
      "files",
      "batches",
      "streams",
      "models",
      "auth",
    ]) {
      expect(prefixes, family).toContain(family);
    }
  });

  it.each(CASES)("$name → $status", async (row) => {
    world = createWorld({ isKeyed: row.isKeyed === true });
    const stored = await createFixtures(world);
    const before = await snapshot(world, stored);
    await expectEnvelope(await send(world, row, stored), row);
    expect(await snapshot(world, stored)).toEqual(before);
    await expectStillServing(world);
  });
});

describe("one server through the whole corpus", () => {
  let world: World;
  afterEach(() => world.t.close());

  it("answers every case with a 4xx, keeps its data intact and keeps serving", async () => {
    world = createWorld({ isKeyed: false });
    const stored = await createFixtures(world);
    const before = await snapshot(world, stored);
    for (const row of CASES.filter((each) => each.isKeyed !== true)) {
      await expectEnvelope(await send(world, row, stored), row);
    }
    expect(await snapshot(world, stored)).toEqual(before);
    await expectStillServing(world);
  });
});

describe("hostile file names", () => {
  let world: World;
  afterEach(() => world.t.close());

  it.each([
    ["traversal", "../../../etc/passwd"],
    ["windows traversal", "..\\..\\windows\\win.ini"],
    ["header injection", "\"; filename*=UTF-8''evil.sh"],
    ["5,000 characters", `${"a".repeat(5000)}.txt`],
  ])("are kept as metadata only: %s", async (_, filename) => {
    world = createWorld({ isKeyed: false });
    const form = new FormData();
    form.append("purpose", "user_data");
    form.append("file", new Blob(["hello"]), filename);
    const res = await send(world, { method: "POST", path: "/v1/files", body: form });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const file = JSON.parse(text) as { id: string; filename: string };
    expect(file.id).toMatch(/^file-[0-9a-f]+$/);
    const filesDir = path.join(world.t.config.dataDir, "files");
    expect(readdirSync(filesDir).filter((name) => name !== "tmp")).toEqual([file.id]);
    expect(readdirSync(world.t.config.dataDir)).toEqual(["files"]);
    const content = await send(world, { method: "GET", path: `/v1/files/${file.id}/content` });
    expect(content.status).toBe(200);
    expect(await content.text()).toBe("hello");
    const disposition = content.headers.get("content-disposition") ?? "";
    expect(disposition).toMatch(/^attachment; filename="[^"]*"; filename\*=UTF-8''[^\s";]+$/);
  });
});

describe("names of Object.prototype's properties", () => {
  let world: World;
  afterEach(() => world.t.close());

  // The router once looked aliases up with `aliases[model]`, so "constructor" resolved to a
  // function and embeddings crashed with a 500.
  it.each(["constructor", "__proto__", "toString", "hasOwnProperty"])(
    "are ordinary model names: %s",
    async (model) => {
      world = createWorld({ isKeyed: false });
      for (const [path, body] of [
        ["/v1/embeddings", { model, input: "hi" }],
        ["/v1/responses", { model, input: "hi" }],
        ["/v1/chat/completions", { model, messages: USER }],
      ] as const) {
        const res = await send(world, { method: "POST", path, body });
        const text = await res.text();
        expect(res.status, `${path}: ${text}`).toBe(200);
        expect(JSON.parse(text)).toMatchObject({ model });
      }
      const retrieved = await send(world, { method: "GET", path: `/v1/models/${model}` });
      expect(await retrieved.json()).toMatchObject({ id: model, object: "model" });
    },
  );
});
