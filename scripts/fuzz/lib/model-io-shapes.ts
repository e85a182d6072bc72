import type { Random } from "./random.js";

/**
 * Hostile model I/O for /v1/responses and /v1/chat/completions (issue 12's surface): client JSON
 * Schemas the mock samples and Ajv compiles (deep, recursive, contradictory, huge bounds, ReDoS
 * patterns, prototype keys, colliding $ids), many or odd tools, corrupt and giant images,
 * logprobs, stop and n. Each shape must get a 2xx or a 4xx, never a 5xx, a hang or a crash.
 * Sizes stay under the default 32 MB body limit, so the shapes reach the code behind it.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function nested(depth: number, wrap: (inner: Json) => Json): Json {
  let schema: Json = { type: "string" };
  for (let level = 0; level < depth; level++) {
    schema = wrap(schema);
  }
  return schema;
}

const SCHEMAS: readonly ((random: Random) => Json)[] = [
  // Depth: 45 levels (under the 100-level body limit), then past it.
  () => nested(45, (inner) => ({ type: "object", properties: { a: inner }, required: ["a"] })),
  () => nested(90, (inner) => ({ type: "array", items: inner, minItems: 1 })),
  () => ({ $ref: "#" }),
  () => ({ type: "object", properties: { a: { $ref: "#" } }, required: ["a"] }),
  () => ({ $defs: { a: { $ref: "#/$defs/b" }, b: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" }),
  () => ({ $ref: "#/$defs/missing" }),
  () => ({ $ref: "http://127.0.0.1:9/remote.json" }),
  () => ({ $id: "http://127.0.0.1:9/base", properties: { a: { $ref: "other.json" } } }),
  (random) => ({
    enum: Array.from({ length: random.pick([0, 1, 1000, 20_000]) }, (_, i) => `v${i}`),
  }),
  (random) => ({ type: "array", minItems: random.pick([1e9, 1e6, 50_001, 2 ** 53]) }),
  (random) => ({ type: "string", minLength: random.pick([1e9, 1e6, 49_999]) }),
  () => ({ type: "object", minProperties: 1e9 }),
  () => ({ type: "array", maxItems: 1e308 }),
  () => ({ type: "integer", minimum: 10, maximum: 1 }),
  () => ({ type: "number", exclusiveMinimum: 1, exclusiveMaximum: 1 }),
  () => ({ type: "integer", multipleOf: 1e-300 }),
  () => ({ type: "number", minimum: -1e308, maximum: 1e308 }),
  () => ({ not: {} }),
  () => ({ type: [] }),
  () => ({ allOf: [{ type: "string" }, { type: "integer" }] }),
  (random) => ({
    type: "string",
    pattern: random.pick([
      "^(a+)+$",
      "(x+x+)+y",
      "^(?!a)a$",
      "(",
      "[z-a]",
      "^a{1000000000}$",
      "\\p{Nope}",
      "^(a)\\1$",
    ]),
  }),
  () => ({ type: "string", pattern: "^b{20000}$" }),
  // Contradictory patterns: the mock writes a value from one and tests it against the other,
  // which backtracks exponentially unless patterns match in linear time.
  () => ({
    allOf: [
      { type: "string", pattern: "^(a+)+$" },
      { type: "string", pattern: "^a{28}b$" },
    ],
  }),
  () => ({ type: "string", format: "no-such-format" }),
  () =>
    JSON.parse(
      '{"type":"object","properties":{"__proto__":{"type":"object","properties":{"polluted":{"const":true}},"required":["polluted"]},"constructor":{"type":"string"},"hasOwnProperty":{"type":"number"}},"required":["__proto__","constructor","hasOwnProperty"],"additionalProperties":false}',
    ) as Json,
  () => ({ $schema: "https://example.com/unknown-dialect", type: "object" }),
  (random) => ({
    $id: "https://example.com/same",
    type: random.pick(["string", "integer", "object"]),
  }),
  (random) => ({ type: "object", properties: { [`p${random.int(0, 1e9)}`]: { type: "string" } } }),
  () => {
    let schema: Json = { type: "string" };
    for (let level = 0; level < 20; level++) {
      schema = { type: "array", minItems: 10, items: schema };
    }
    return schema;
  },
];

function hostileSchema(random: Random): Json {
  return random.pick(SCHEMAS)(random);
}

function imageUrl(random: Random): string {
  const png = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");
  const giant = Buffer.concat([
    png,
    Buffer.from([0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0]),
  ]);
  return random.pick([
    `data:image/png;base64,${giant.toString("base64")}`, // 100000 x 100000 pixels
    `data:image/png;base64,${png.subarray(0, 10).toString("base64")}`, // cut header
    "data:image/jpeg;base64,/9j/AAAA", // corrupt JPEG
    `data:image/png;base64,${giant.toString("base64").replace(/(.{4})/g, "$1 \n")}`, // whitespace
    "data:text/plain;base64,aGVsbG8=",
    "data:image/png;base64,",
    "data:,",
    "not a url",
    "javascript:alert(1)",
    `data:image/png;base64,${"A".repeat(random.pick([10, 8 * 1024 * 1024]))}`,
  ]);
}

function userText(random: Random): string {
  return random.pick([
    "What's the weather in Paris?",
    `${"weather forecast city ".repeat(random.pick([10, 100_000]))}`,
    `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab ${"search ".repeat(10)}`,
    "",
  ]);
}

function tools(random: Random, chat: boolean): unknown[] {
  const count = random.pick([1, 2, 1000, 10_000]);
  const sameName = random.chance(0.2);
  return Array.from({ length: count }, (_, index) => {
    const name = sameName
      ? "get_weather"
      : random.pick([`get_weather_${index}`, `天気_${index}`, `search_${index}`]);
    const parameters = random.chance(0.5)
      ? hostileSchema(random)
      : { type: "object", properties: { city: { type: "string" } } };
    const description = random.pick(["", "Get the weather forecast for a city", null]);
    const fn = { name, description, parameters, strict: random.chance(0.2) };
    return chat ? { type: "function", function: fn } : { type: "function", ...fn };
  });
}

export interface ModelIoBody {
  readonly path: "/v1/responses" | "/v1/chat/completions";
  readonly body: Record<string, unknown>;
}

/** A hostile model-I/O request; `seed`-stable through `random`. */
export function modelIoBody(random: Random): ModelIoBody {
  const chat = random.chance(0.5);
  const kind = random.pick(["schema", "schema", "tools", "image", "sampling"] as const);
  const text = userText(random);
  const image = { url: imageUrl(random), detail: random.pick(["low", "high", "auto"]) };
  const content =
    kind === "image"
      ? chat
        ? [
            { type: "text", text },
            { type: "image_url", image_url: random.chance(0.1) ? "not an object" : image },
          ]
        : [
            { type: "input_text", text },
            random.chance(0.2)
              ? { type: "input_image", file_id: "file-nope" }
              : { type: "input_image", image_url: image.url, detail: image.detail },
          ]
      : text;
  const body: Record<string, unknown> = chat
    ? { model: "gpt-4o-mini", messages: [{ role: "user", content }] }
    : { model: "gpt-4o-mini", input: [{ role: "user", content }] };
  if (kind === "schema") {
    const format = {
      type: "json_schema",
      name: "fuzz",
      schema: hostileSchema(random),
      strict: random.chance(0.3),
    };
    if (chat) {
      const { type, ...jsonSchema } = format;
      body.response_format = { type, json_schema: jsonSchema };
    } else {
      body.text = { format };
    }
  }
  if (kind === "tools") {
    body.tools = tools(random, chat);
    body.tool_choice = random.pick([
      "auto",
      "required",
      "none",
      chat
        ? { type: "function", function: { name: "get_weather" } }
        : { type: "function", name: "get_weather" },
    ]);
    body.parallel_tool_calls = random.chance(0.7);
  }
  if (kind === "sampling") {
    const stop = random.pick([[""], ["x".repeat(10_240)], ["", " ", "."], "e"]);
    if (chat) {
      Object.assign(body, {
        logprobs: true,
        top_logprobs: 20,
        stop,
        n: random.pick([1, 8, 128, 129]),
      });
    } else {
      Object.assign(body, { top_logprobs: 20, include: ["message.output_text.logprobs"] });
    }
  }
  if (random.chance(0.2)) {
    body.stream = true;
  }
  return { path: chat ? "/v1/chat/completions" : "/v1/responses", body };
}
