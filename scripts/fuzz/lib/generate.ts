import { listedRoutes } from "../../../src/http/scopes.js";
import { modelIoBody } from "./model-io-shapes.js";
import {
  EXTREME_NUMBERS,
  HOSTILE_STRINGS,
  NUMBER_TEXTS,
  type Random,
  randomJson,
  randomString,
} from "./random.js";

/**
 * Random requests for every route: valid-ish bodies for each route, then mutated (fields dropped,
 * wrong types, random unicode, huge and extreme values, deep nesting, duplicate keys, broken
 * bytes, wrong content types), random query strings, hostile path ids, and methods the route
 * does not have.
 */

/** Ids the server handed out, by kind, so that requests also reach real objects. */
export interface IdPools {
  readonly response: string[];
  readonly file: string[];
  readonly batchFile: string[];
  readonly batch: string[];
  readonly stream: string[];
}

export interface FuzzRequest {
  /** The route's template, for the per-route counts: `POST /v1/responses`. */
  readonly route: string;
  readonly method: string;
  /** Path and query, already encoded. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string | Uint8Array | FormData;
  /** What the body was, for reports (a FormData or a huge body is summarised). */
  readonly summary: string;
}

interface Route {
  readonly method: string;
  readonly path: string;
}

/** Every /v1 route from the scope table (the one list of routes), plus /health. */
export function listRoutes(): Route[] {
  const routes = listedRoutes().map((entry) => {
    const [method = "GET", path = "/"] = entry.split(" ");
    return { method, path };
  });
  return [...routes, { method: "GET", path: "/health" }];
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;
const MODELS = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "m"];
const MB = 1024 * 1024;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** encodeURIComponent, with lone surrogates (which it refuses) sent as invalid UTF-8 escapes. */
function encode(text: string): string {
  return text
    .split(LONE_SURROGATE)
    .map((part) => encodeURIComponent(part))
    .join("%ED%A0%80");
}

function idFor(random: Random, template: string, pools: IdPools): string {
  const kind = template.startsWith("/v1/responses")
    ? pools.response
    : template.startsWith("/v1/files")
      ? pools.file
      : template.startsWith("/v1/batches")
        ? pools.batch
        : template.startsWith("/v1/streams")
          ? pools.stream
          : MODELS;
  const roll = random.next();
  if (roll < 0.45 && kind.length > 0) {
    return encode(random.pick(kind));
  }
  if (roll < 0.75) {
    const hostile = random.pick(HOSTILE_STRINGS);
    // Sometimes raw, so that `../` reaches the URL parser as it is.
    return random.chance(0.3)
      ? hostile.replaceAll("?", "%3F").replaceAll("#", "%23")
      : encode(hostile);
  }
  if (roll < 0.8) {
    return encode("x".repeat(random.int(200, 6000)));
  }
  return encode(randomString(random, 30)) || "x";
}

function fillPath(random: Random, template: string, pools: IdPools): string {
  return template
    .replace(":id{.+}", () => idFor(random, template, pools))
    .replace(":id", () => idFor(random, template, pools));
}

const QUERY_NAMES = [
  "limit",
  "after",
  "before",
  "order",
  "purpose",
  "stream",
  "starting_after",
  "ending_before",
  "wait_ms",
  "stream_id",
  "model",
  "endpoint",
  "completion_window",
  "window",
  "include[]",
  "limit[]",
];

function queryValue(random: Random, pools: IdPools): string {
  const roll = random.next();
  if (roll < 0.35) {
    return random.pick(NUMBER_TEXTS);
  }
  if (roll < 0.55) {
    return random.pick(HOSTILE_STRINGS);
  }
  if (roll < 0.7) {
    return random.pick([
      "asc",
      "desc",
      "true",
      "false",
      "batch",
      "user_data",
      "24h",
      "1h",
      "/v1/responses",
      "/v1/chat/completions",
      ...MODELS,
    ]);
  }
  if (roll < 0.85) {
    const all = [...pools.response, ...pools.file, ...pools.batch, ...pools.stream];
    return all.length > 0 ? random.pick(all) : "x";
  }
  return randomString(random, 60);
}

function randomQuery(random: Random, pools: IdPools): string {
  if (random.chance(0.4)) {
    return "";
  }
  const parts: string[] = [];
  for (let count = random.int(1, 4); count > 0; count--) {
    const name = random.chance(0.9) ? random.pick(QUERY_NAMES) : randomString(random, 10);
    const value = queryValue(random, pools);
    parts.push(
      random.chance(0.9)
        ? `${encode(name)}=${encode(value)}`
        : `${name}=${value.replaceAll("#", "%23").replaceAll("&", "%26")}`,
    );
  }
  return `?${parts.join("&")}`;
}

// Valid-ish bodies, one generator per route that takes one.

function responsesBody(random: Random, pools: IdPools): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: random.pick(MODELS),
    input: random.chance(0.7)
      ? randomString(random, 80) || "hi"
      : [{ role: "user", content: [{ type: "input_text", text: "hi" }] }],
  };
  if (random.chance(0.3)) {
    body.background = true;
  }
  if (random.chance(0.2)) {
    body.stream = true;
  }
  if (random.chance(0.15)) {
    body.max_output_tokens = random.int(16, 64);
  }
  if (random.chance(0.15) && pools.stream.length > 0) {
    body.metadata = { stream_id: random.pick(pools.stream), custom_id: randomString(random, 10) };
  }
  if (random.chance(0.1)) {
    body.metadata = { completion_window: random.pick(["1h", "24h", "2h"]) };
  }
  if (random.chance(0.15) && pools.response.length > 0) {
    body.previous_response_id = random.pick(pools.response);
  }
  if (random.chance(0.1)) {
    body.tools = [
      {
        type: "function",
        name: "lookup",
        parameters: { type: "object", properties: { q: { type: "string" } } },
      },
    ];
  }
  if (random.chance(0.1)) {
    body.text = { format: { type: "json_schema", name: "s", schema: { type: "object" } } };
  }
  if (random.chance(0.1)) {
    body.store = false;
  }
  return body;
}

function chatBody(random: Random): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: random.pick(MODELS),
    messages: [
      ...(random.chance(0.3) ? [{ role: "system", content: "be brief" }] : []),
      { role: "user", content: randomString(random, 80) || "hi" },
    ],
  };
  if (random.chance(0.2)) {
    body.stream = true;
  }
  if (random.chance(0.2)) {
    body.n = random.int(1, 3);
  }
  if (random.chance(0.2)) {
    body.max_tokens = random.int(1, 32);
  }
  if (random.chance(0.1)) {
    body.stream_options = { include_usage: true };
  }
  return body;
}

function embeddingsBody(random: Random): Record<string, unknown> {
  return {
    model: random.pick(MODELS),
    input: random.chance(0.5) ? randomString(random, 60) || "hi" : ["a", "b", [1, 2, 3]],
    ...(random.chance(0.3) ? { dimensions: random.int(1, 2048) } : {}),
    ...(random.chance(0.3) ? { encoding_format: random.pick(["float", "base64"]) } : {}),
  };
}

function batchLine(random: Random, customId: string): Record<string, unknown> {
  return {
    custom_id: customId,
    method: "POST",
    url: "/v1/chat/completions",
    body: { model: "gpt-4o-mini", messages: [{ role: "user", content: randomString(random, 20) }] },
  };
}

function batchesBody(random: Random, pools: IdPools): Record<string, unknown> {
  if (random.chance(0.5) && pools.batchFile.length > 0) {
    return {
      input_file_id: random.pick(pools.batchFile),
      endpoint: random.pick(["/v1/chat/completions", "/v1/responses", "/v1/embeddings"]),
      completion_window: "24h",
      ...(random.chance(0.3) ? { metadata: { note: randomString(random, 20) } } : {}),
    };
  }
  return {
    requests: Array.from({ length: random.int(1, 4) }, (_, index) => ({
      custom_id: `r${index}`,
      body: batchLine(random, `r${index}`).body,
    })),
    ...(random.chance(0.3) ? { window: random.pick(["1h", "24h"]) } : {}),
  };
}

function jsonBodyFor(random: Random, route: Route, pools: IdPools): unknown {
  switch (`${route.method} ${route.path}`) {
    case "POST /v1/responses":
      return responsesBody(random, pools);
    case "POST /v1/chat/completions":
      return chatBody(random);
    case "POST /v1/embeddings":
      return embeddingsBody(random);
    case "POST /v1/batches":
      return batchesBody(random, pools);
    case "POST /v1/streams":
      return { name: randomString(random, 30) || "s", window: random.pick(["1h", "24h"]) };
    case "PATCH /v1/streams/:id":
      return { status: random.pick(["cancelled", "archived"]) };
    case "POST /v1/auth/login":
      return { username: "admin", password: randomString(random, 12) };
    default:
      return random.chance(0.5) ? {} : randomJson(random);
  }
}

// Mutations of a JSON object: structure first, then the text, then the bytes.

function mutateValue(random: Random, body: unknown): unknown {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return randomJson(random);
  }
  const record = { ...(body as Record<string, unknown>) };
  const keys = Object.keys(record);
  const key = keys.length > 0 ? random.pick(keys) : "model";
  switch (random.int(0, 10)) {
    case 0:
      delete record[key];
      break;
    case 1:
      record[key] = randomJson(random);
      break;
    case 2:
      record[randomString(random, 16) || "extra"] = randomJson(random);
      break;
    case 3:
      record[key] = random.pick(EXTREME_NUMBERS);
      break;
    case 4:
      record[key] = randomString(random, 200);
      break;
    case 5:
      // Huge: mostly under the 32 MB body limit, which the fuzzer does not need to prove again.
      record[key] = "x".repeat(
        random.chance(0.9) ? random.int(1000, 100_000) : random.int(MB, 3 * MB),
      );
      break;
    case 6:
      record[key] = [record[key]];
      break;
    case 7:
      record[key] = { value: record[key] };
      break;
    case 8:
      record[key] = random.pick(HOSTILE_STRINGS);
      break;
    case 9:
      return [record];
    default:
      record[key] = null;
  }
  return record;
}

function nestText(random: Random, text: string): string {
  const levels = random.pick([50, 101, 1000, 10_000, 50_000]);
  const inner = random.chance(0.5)
    ? `{"a":${'{"a":'.repeat(levels)}1${"}".repeat(levels)}}`
    : `${"[".repeat(levels)}1${"]".repeat(levels)}`;
  // Into a field when the body is an object, or as the whole body.
  return text.startsWith("{") && text.length > 2 && random.chance(0.7)
    ? `{"deep":${inner},${text.slice(1)}`
    : inner;
}

function mutateText(random: Random, text: string): string | Uint8Array {
  switch (random.int(0, 7)) {
    case 0:
      return text.slice(0, random.int(0, text.length));
    case 1: {
      // A duplicate key: the first key again with a random value, last.
      const match = /^\{"([^"]+)":/.exec(text);
      const key = match?.[1] ?? "model";
      return text.endsWith("}")
        ? `${text.slice(0, -1)}${text.length > 2 ? "," : ""}"${key}":${JSON.stringify(randomJson(random, 1))}}`
        : text;
    }
    case 2:
      return nestText(random, text);
    case 3: {
      const bytes = Buffer.from(text);
      for (let flips = random.int(1, 4); flips > 0 && bytes.length > 0; flips--) {
        bytes[random.int(0, bytes.length - 1)] = random.int(0, 255);
      }
      return new Uint8Array(bytes);
    }
    case 4: {
      const at = random.int(0, text.length);
      return new Uint8Array(
        Buffer.concat([
          Buffer.from(text.slice(0, at)),
          Buffer.from(random.pick([[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0x00]])),
          Buffer.from(text.slice(at)),
        ]),
      );
    }
    case 5:
      return random.pick(["", "null", "[]", '""', "0", "true", "{", "}", "{}{}", "\ufeff{}"]);
    case 6: {
      // A number JSON.stringify cannot write: Infinity, a 400-digit integer.
      const key = random.pick(["max_output_tokens", "temperature", "limit", "n", "dimensions"]);
      return text.endsWith("}") && text.length > 2
        ? `${text.slice(0, -1)},"${key}":${random.pick(["1e400", "-1e400", "9".repeat(400), "-0", "1.0e-400"])}}`
        : text;
    }
    default:
      return text.replace(/"/g, random.pick(["'", "", '\\"']));
  }
}

function multipartBody(random: Random): { body: FormData | string; contentType: string | null } {
  if (random.chance(0.15)) {
    // Hand-written multipart, broken in some way.
    const boundary = random.pick(["b", "x".repeat(200), "", "--", "a b"]);
    const parts = [
      `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n${random.pick(["batch", "user_data", "x"])}\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${random.pick(["a.jsonl", "../../x", "", "\u0000"])}"\r\n\r\n${randomString(random, 100)}\r\n`,
    ];
    const text = random.chance(0.5) ? parts.join("") : `${parts.join("")}--${boundary}--\r\n`;
    return {
      body: text.slice(0, random.chance(0.3) ? random.int(0, text.length) : text.length),
      contentType: random.pick([
        `multipart/form-data; boundary=${boundary}`,
        "multipart/form-data",
        "multipart/mixed; boundary=b",
      ]),
    };
  }
  const form = new FormData();
  const purpose = random.chance(0.8)
    ? random.pick(["batch", "user_data", "assistants", "fine-tune", "vision", "evals"])
    : randomString(random, 20);
  if (random.chance(0.9)) {
    form.append("purpose", purpose);
  }
  if (random.chance(0.2)) {
    form.append("expires_after[anchor]", random.pick(["created_at", "now", ""]));
    form.append("expires_after[seconds]", random.pick(NUMBER_TEXTS));
  }
  if (random.chance(0.1)) {
    for (let index = random.int(1, 60); index > 0; index--) {
      form.append(`field${index}`, randomString(random, 10));
    }
  }
  const lines = Array.from({ length: random.int(0, 5) }, (_, index) =>
    random.chance(0.85) ? JSON.stringify(batchLine(random, `c${index}`)) : randomString(random, 80),
  );
  const filename = random.chance(0.7)
    ? random.pick(["input.jsonl", "notes.txt", "data.JSONL"])
    : random.pick([
        ...HOSTILE_STRINGS.filter((name) => name !== ""),
        randomString(random, 300) || "x",
      ]);
  if (random.chance(0.92)) {
    form.append("file", new Blob([lines.join("\n")]), filename);
  }
  if (random.chance(0.05)) {
    form.append("file", new Blob(["second"]), "second.jsonl");
  }
  return { body: form, contentType: null };
}

function jsonlBody(random: Random): string {
  return Array.from({ length: random.int(0, 6) }, (_, index) => {
    const roll = random.next();
    if (roll < 0.5) {
      return JSON.stringify(batchLine(random, `j${index}`));
    }
    if (roll < 0.7) {
      return JSON.stringify({ content: randomString(random, 40) });
    }
    if (roll < 0.8) {
      return nestText(random, "{}");
    }
    return randomString(random, 100);
  }).join("\n");
}

const CONTENT_TYPES = [
  "text/plain",
  "text/plain;charset=UTF-8",
  "application/xml",
  "application/octet-stream",
  "application/x-www-form-urlencoded",
  "application/jsonl",
  "application/x-ndjson",
  "multipart/form-data; boundary=zzz",
  "application/json; charset=latin1",
  "application/vnd.api+json",
  "",
  "\u00ff/\u00fe",
];

/** Request number `index` of the run: a route, a method, a path, a query, headers and a body. */
export function generateRequest(
  random: Random,
  routes: readonly Route[],
  pools: IdPools,
): FuzzRequest {
  // One request in five is issue 12's hostile model I/O (schemas, tools, images, logprobs).
  if (random.chance(0.2)) {
    const { path, body } = modelIoBody(random);
    const text = JSON.stringify(body);
    return {
      route: `POST ${path} (model I/O)`,
      method: "POST",
      path,
      headers: { "content-type": "application/json" },
      body: text,
      summary: text.slice(0, 200),
    };
  }
  const route = random.pick(routes);
  const method = random.chance(0.9) ? route.method : random.pick(METHODS);
  const path = fillPath(random, route.path, pools) + randomQuery(random, pools);
  const headers: Record<string, string> = {};
  const label = `${route.method} ${route.path}${method === route.method ? "" : ` as ${method}`}`;
  if (random.chance(0.05)) {
    headers.authorization = random.pick([
      "Bearer ",
      "Bearer x",
      `Bearer ${"k".repeat(8000)}`,
      "Basic Zm9v",
    ]);
  }
  if (method === "GET" || method === "HEAD") {
    return { route: label, method, path, headers, summary: "" };
  }

  const isUpload = route.path === "/v1/files" && method === "POST" && random.chance(0.8);
  if (isUpload) {
    const { body, contentType } = multipartBody(random);
    if (contentType !== null) {
      headers["content-type"] = contentType;
    }
    return {
      route: label,
      method,
      path,
      headers,
      body,
      summary: typeof body === "string" ? body.slice(0, 200) : "(multipart form)",
    };
  }
  const isJsonl = route.path === "/v1/batches" && method === "POST" && random.chance(0.2);
  if (isJsonl) {
    const body = jsonlBody(random);
    headers["content-type"] = random.pick(["application/jsonl", "application/x-ndjson"]);
    return { route: label, method, path, headers, body, summary: body.slice(0, 200) };
  }

  let value = jsonBodyFor(random, route, pools);
  for (let count = random.pick([0, 0, 1, 1, 2, 3]); count > 0; count--) {
    value = mutateValue(random, value);
  }
  let body: string | Uint8Array = JSON.stringify(value) ?? "null";
  if (random.chance(0.25)) {
    body = mutateText(random, body);
  }
  if (random.chance(0.1)) {
    headers["content-type"] = random.pick(CONTENT_TYPES);
  } else {
    headers["content-type"] = "application/json";
  }
  if (random.chance(0.05)) {
    delete headers["content-type"];
  }
  const summary =
    typeof body === "string"
      ? body.slice(0, 200)
      : `(bytes) ${Buffer.from(body).toString("latin1").slice(0, 200)}`;
  return { route: label, method, path, headers, body, summary };
}
