import { existsSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import type { ConfigOverrides } from "../../src/config.js";
import type { Clock } from "../../src/lib/clock.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

export const HOUR_MS = 3_600_000;

/** A clock the test moves by hand; it starts at the real time so file mtimes line up with it. */
export function createManualClock(): Clock & { advanceMs(ms: number): void } {
  let nowMs = Date.now();
  return {
    nowMs: () => nowMs,
    advanceMs(ms) {
      nowMs += ms;
    },
  };
}

/** A world whose responses and batches are kept one hour after they finish. */
export function retentionContext(
  clock: Clock,
  retention: ConfigOverrides["retention"] = { responsesSeconds: 3600, batchesSeconds: 3600 },
): TestContext {
  return createTestContext({ clock, config: { retention } });
}

export async function json<T>(res: Response | Promise<Response>, status = 200): Promise<T> {
  const resolved = await res;
  const text = await resolved.text();
  expect(resolved.status, text).toBe(status);
  return JSON.parse(text) as T;
}

export async function expectGone(t: TestContext, url: string): Promise<void> {
  const res = await t.app.request(url);
  const text = await res.text();
  expect(res.status, `${url}: ${text}`).toBe(404);
  expect(JSON.parse(text)).toMatchObject({ error: { type: "invalid_request_error" } });
}

export async function expectPresent(t: TestContext, url: string): Promise<void> {
  const res = await t.app.request(url);
  expect(res.status, `${url}: ${await res.clone().text()}`).toBe(200);
}

/** Runs every queued work item to the end. */
export async function runAll(t: TestContext): Promise<void> {
  const { executor } = t.services;
  while (executor.runOnce() > 0 || executor.inFlight() > 0) {
    await executor.drain();
  }
}

export function countRows(t: TestContext, sql: string, ...params: unknown[]): number {
  return (t.db.$client.prepare(sql).get(...params) as { n: number }).n;
}

export function blobPath(t: TestContext, fileId: string): string {
  return path.join(t.config.dataDir, "files", fileId);
}

export function hasBlob(t: TestContext, fileId: string): boolean {
  return existsSync(blobPath(t, fileId));
}

/** Uploads text through the real multipart route; `expiresAfterSeconds` sets expires_after. */
export async function upload(
  t: TestContext,
  options: { purpose?: string; text?: string; filename?: string; expiresAfterSeconds?: number },
): Promise<{ id: string; expires_at?: number }> {
  const form = new FormData();
  form.append("purpose", options.purpose ?? "user_data");
  if (options.expiresAfterSeconds !== undefined) {
    form.append("expires_after[anchor]", "created_at");
    form.append("expires_after[seconds]", String(options.expiresAfterSeconds));
  }
  form.append("file", new Blob([options.text ?? "some bytes\n"]), options.filename ?? "notes.txt");
  return json(t.app.request("/v1/files", { method: "POST", body: form }));
}

export function chatLine(customId: string, content: string) {
  return {
    custom_id: customId,
    method: "POST",
    url: "/v1/chat/completions",
    body: { model: "gpt-4o-mini", messages: [{ role: "user", content }] },
  };
}
