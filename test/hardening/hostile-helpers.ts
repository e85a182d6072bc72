import { expect } from "vitest";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

/** A test app and the headers every well-behaved request of it carries (a key, or none). */
export interface World {
  readonly t: TestContext;
  readonly auth: Readonly<Record<string, string>>;
}

/** The stored objects a hostile request must leave as they were. */
export interface Fixtures {
  readonly response: string;
  readonly streamItem: string;
  readonly file: string;
  readonly batch: string;
  readonly batchInput: string;
  readonly stream: string;
}

export interface Request {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly contentType?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Open mode (no keys, loopback), or a server with one admin key. */
export function createWorld(options: { isKeyed: boolean }): World {
  const t = createTestContext();
  if (!options.isKeyed) {
    return { t, auth: {} };
  }
  const { key } = t.services.apiKeys.create({ projectId: "alpha", name: "corpus" });
  return { t, auth: { authorization: `Bearer ${key}` } };
}

const PLACEHOLDER = /\{(response|streamItem|file|batch|batchInput|stream)\}/g;

function fill(text: string, fixtures: Fixtures | null): string {
  return fixtures === null
    ? text
    : text.replace(PLACEHOLDER, (_, name: keyof Fixtures) => fixtures[name]);
}

/** A body delivered in these pieces, as a slow or unlucky network would deliver it. */
export interface ChunkedBody {
  readonly chunks: readonly Uint8Array[];
}

function isChunked(body: unknown): body is ChunkedBody {
  return typeof body === "object" && body !== null && "chunks" in body;
}

/**
 * Sends a request as given: JSON values are serialised, strings and bytes go as they are, FormData
 * brings its own multipart type, chunks go one by one. A request with its own `headers` (the auth
 * cases) does not get the world's key.
 */
export function send(
  world: World,
  request: Request,
  fixtures: Fixtures | null = null,
): Promise<Response> {
  const headers: Record<string, string> = { ...(request.headers ?? world.auth) };
  let body: RequestInit["body"];
  if (request.body instanceof FormData || request.body instanceof Uint8Array) {
    body = request.body as RequestInit["body"];
  } else if (isChunked(request.body)) {
    const { chunks } = request.body;
    body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) {
          controller.enqueue(chunk);
        }
        controller.close();
      },
    });
  } else if (typeof request.body === "string") {
    body = fill(request.body, fixtures);
  } else if (request.body !== undefined) {
    body = fill(JSON.stringify(request.body), fixtures);
  }
  const contentType =
    request.contentType === undefined
      ? body === undefined || request.body instanceof FormData
        ? null
        : "application/json"
      : request.contentType;
  if (contentType !== null) {
    headers["content-type"] = contentType;
  }
  return Promise.resolve(
    world.t.app.request(fill(request.path, fixtures), {
      method: request.method,
      headers,
      body,
      ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
    }),
  );
}

async function json<T>(res: Promise<Response>): Promise<T> {
  const resolved = await res;
  const text = await resolved.text();
  expect(resolved.status, text).toBe(200);
  return JSON.parse(text) as T;
}

async function upload(world: World, purpose: string, name: string, text: string): Promise<string> {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", new Blob([text]), name);
  return (
    await json<{ id: string }>(send(world, { method: "POST", path: "/v1/files", body: form }))
  ).id;
}

async function runAll(t: TestContext): Promise<void> {
  const { executor } = t.services;
  while (executor.runOnce() > 0 || executor.inFlight() > 0) {
    await executor.drain();
  }
}

/** One of everything: a response, a stream with a finished item, a file, a finished batch. */
export async function createFixtures(world: World): Promise<Fixtures> {
  const post = (path: string, body: unknown) =>
    json<{ id: string; status?: string }>(send(world, { method: "POST", path, body }));
  const response = (await post("/v1/responses", { model: "gpt-4o-mini", input: "keep me" })).id;
  const stream = (await post("/v1/streams", { name: "fixture" })).id;
  const streamItem = (
    await post("/v1/responses", {
      model: "gpt-4o-mini",
      input: "an item",
      metadata: { stream_id: stream },
    })
  ).id;
  const file = await upload(world, "user_data", "notes.txt", "fixture bytes\n");
  const batchInput = await upload(
    world,
    "batch",
    "input.jsonl",
    JSON.stringify({
      custom_id: "a",
      method: "POST",
      url: "/v1/chat/completions",
      body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
    }),
  );
  const batch = (
    await post("/v1/batches", {
      input_file_id: batchInput,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    })
  ).id;
  for (let round = 0; round < 100; round++) {
    await world.t.services.supervisor.sweep();
    await runAll(world.t);
    const state = await json<{ status: string }>(
      send(world, { method: "GET", path: `/v1/batches/${batch}` }),
    );
    if (state.status === "completed") {
      return { response, streamItem, file, batch, batchInput, stream };
    }
  }
  throw new Error("the fixture batch did not complete");
}

/** Everything a client can read about the fixtures, and how many rows each table holds. */
export async function snapshot(world: World, fixtures: Fixtures): Promise<Record<string, unknown>> {
  const paths = [
    "/v1/responses",
    `/v1/responses/${fixtures.response}`,
    `/v1/responses/${fixtures.response}/input_items`,
    `/v1/responses/${fixtures.streamItem}`,
    "/v1/files",
    `/v1/files/${fixtures.file}`,
    `/v1/files/${fixtures.file}/content`,
    `/v1/files/${fixtures.batchInput}/content`,
    "/v1/batches",
    `/v1/batches/${fixtures.batch}`,
    `/v1/batches/${fixtures.batch}/results`,
    "/v1/streams",
    `/v1/streams/${fixtures.stream}`,
    `/v1/streams/${fixtures.stream}/events`,
  ];
  const state: Record<string, unknown> = {};
  for (const path of paths) {
    const res = await send(world, { method: "GET", path });
    state[path] = { status: res.status, body: await res.text() };
  }
  for (const table of [
    "responses",
    "response_events",
    "work_items",
    "files",
    "batches",
    "streams",
    "stream_events",
    "api_keys",
  ]) {
    state[table] = world.t.db.$client.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get();
  }
  return state;
}
