import { expect } from "vitest";
import type { ConfigOverrides } from "../../src/config.js";
import type { ApiKeyScope } from "../../src/contract/api-keys.js";
import type { Clock } from "../../src/lib/clock.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** A test world whose database holds keys (so the server is keyed), created through the service. */
export function keyedContext(options: { config?: ConfigOverrides; clock?: Clock } = {}) {
  const t = createTestContext(options);
  const createKey = (projectId: string, scopes?: ApiKeyScope[], name = "test") =>
    t.services.apiKeys.create({ projectId, scopes, name });
  return { t, createKey };
}

export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

/** Any request, with a key (Bearer) or none; a body is sent as JSON. */
export function send(
  t: TestContext,
  method: string,
  path: string,
  key: string | null,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (key !== null) {
    init.headers = { ...bearer(key), ...headers };
  }
  if (body !== undefined) {
    init.headers = { "content-type": "application/json", ...init.headers };
    init.body = JSON.stringify(body);
  }
  return Promise.resolve(t.app.request(path, init));
}

/** Reads the body as JSON after checking the status, with the body in the failure message. */
export async function expectJson<T>(res: Response | Promise<Response>, status: number): Promise<T> {
  const resolved = await res;
  const text = await resolved.text();
  expect(resolved.status, text).toBe(status);
  return JSON.parse(text) as T;
}

/** Uploads text as a file through the real multipart route, for a key's project. */
export async function uploadFile(
  t: TestContext,
  key: string,
  text: string,
  purpose = "batch",
): Promise<string> {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", new Blob([text], { type: "application/jsonl" }), "input.jsonl");
  const res = await t.app.request("/v1/files", {
    method: "POST",
    body: form,
    headers: bearer(key),
  });
  return (await expectJson<{ id: string }>(res, 200)).id;
}

export function chatLine(customId: string, content: string) {
  return JSON.stringify({
    custom_id: customId,
    method: "POST",
    url: "/v1/chat/completions",
    body: { model: "gpt-4o-mini", messages: [{ role: "user", content }] },
  });
}
