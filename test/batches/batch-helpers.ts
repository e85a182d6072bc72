import { expect } from "vitest";
import type { TestContext } from "../helpers/test-app.js";

export type BatchJson = {
  id: string;
  status: string;
  output_file_id?: string;
  error_file_id?: string;
  errors?: { data: { code: string; message: string; line: number | null; param: string | null }[] };
  request_counts: { total: number; completed: number; failed: number };
  usage: { input_tokens: number; output_tokens: number; total_tokens: number };
  [key: string]: unknown;
};

export type OutputLine = {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
};

/** Uploads JSONL text as a batch input file through the real multipart route. */
export async function uploadJsonl(
  t: TestContext,
  lines: readonly unknown[],
  filename = "input.jsonl",
): Promise<string> {
  const text = lines
    .map((line) => (typeof line === "string" ? line : JSON.stringify(line)))
    .join("\n");
  const form = new FormData();
  form.append("purpose", "batch");
  form.append("file", new Blob([text], { type: "application/jsonl" }), filename);
  const res = await t.app.request("/v1/files", { method: "POST", body: form });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

export function chatLine(customId: string, content: string, extra: Record<string, unknown> = {}) {
  return {
    custom_id: customId,
    method: "POST",
    url: "/v1/chat/completions",
    body: { model: "gpt-4o-mini", messages: [{ role: "user", content }], ...extra },
  };
}

export async function createBatch(
  t: TestContext,
  body: Record<string, unknown>,
): Promise<BatchJson> {
  const res = await t.post("/v1/batches", body);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as BatchJson;
}

export async function getBatch(t: TestContext, id: string): Promise<BatchJson> {
  const res = await t.get(`/v1/batches/${id}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as BatchJson;
}

const TERMINAL = new Set(["completed", "failed", "expired", "cancelled"]);

/** Drives the supervisor and the executor by hand until the batch ends. */
export async function runUntilSettled(
  t: TestContext,
  id: string,
  maxRounds = 500,
): Promise<BatchJson> {
  const { executor, supervisor } = t.services;
  for (let round = 0; round < maxRounds; round++) {
    await supervisor.sweep();
    executor.runOnce();
    await executor.drain();
    const batch = await getBatch(t, id);
    if (TERMINAL.has(batch.status)) {
      return batch;
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`batch ${id} did not settle`);
}

export async function readFileLines(
  t: TestContext,
  fileId: string | undefined,
): Promise<OutputLine[]> {
  if (fileId === undefined) {
    return [];
  }
  const res = await t.get(`/v1/files/${fileId}/content`);
  expect(res.status).toBe(200);
  return (await res.text())
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as OutputLine);
}
