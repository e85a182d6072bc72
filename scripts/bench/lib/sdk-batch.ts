import OpenAI, { toFile } from "openai";
import type { Batch } from "openai/resources/batches";
import { readCpuSeconds } from "./process-stats.js";
import { sleep } from "./sleep.js";

/**
 * One batch through the official `openai` SDK, as a user runs it: `files.create` (purpose
 * batch), `batches.create`, then `batches.retrieve` every `pollMs` until it ends. ferry's own
 * timestamps are whole seconds, too coarse for a run of a few seconds, so the run is timed by
 * fine polls (a GET of one row costs ferry little next to the calls it makes meanwhile), and
 * ferry's CPU time is read from /proc at the same instants.
 */

const TERMINAL_BATCH_STATUSES = new Set(["completed", "failed", "expired", "cancelled"]);

export interface SdkBatchRun {
  readonly id: string;
  readonly status: string;
  readonly requestCounts: { total: number; completed: number; failed: number };
  /** batches.create answered -> first poll past `validating`. */
  readonly validationSeconds: number;
  /** First poll `in_progress` (or later) -> first poll in a final status. */
  readonly runSeconds: number;
  /** Completed lines / runSeconds. */
  readonly linesPerSecond: number;
  /** ferry's CPU seconds over runSeconds, and from batches.create to the end. */
  readonly ferryCpuRunSeconds: number;
  readonly ferryCpuTotalSeconds: number;
  /** ferry's CPU over the run as a share of one core (100 = one core busy). */
  readonly ferryCpuPercent: number;
}

export function createSdkClient(ferryUrl: string): OpenAI {
  return new OpenAI({
    baseURL: `${ferryUrl}/v1`,
    apiKey: "sk-bench",
    maxRetries: 0,
    timeout: 120_000,
  });
}

export async function runSdkBatch(
  client: OpenAI,
  options: {
    /** The JSONL input, one chat-completions request a line. */
    readonly jsonl: string;
    readonly ferryPid: number;
    readonly pollMs: number;
    readonly timeoutMs: number;
    /** Called once when the batch is first seen in progress (start a probe, a sampler). */
    readonly onInProgress?: () => void;
  },
): Promise<SdkBatchRun> {
  const file = await client.files.create({
    file: await toFile(Buffer.from(options.jsonl), "batch.jsonl"),
    purpose: "batch",
  });
  const cpuAtCreate = readCpuSeconds(options.ferryPid);
  const created = await client.batches.create({
    input_file_id: file.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  const createdAt = performance.now();
  let current: Batch = created;
  let inProgressAt: number | null = null;
  let cpuAtInProgress = cpuAtCreate;
  const deadline = createdAt + options.timeoutMs;
  while (!TERMINAL_BATCH_STATUSES.has(current.status)) {
    if (performance.now() > deadline) {
      throw new Error(
        `batch ${created.id} still '${current.status}' after ${options.timeoutMs} ms (${JSON.stringify(current.request_counts)})`,
      );
    }
    await sleep(options.pollMs);
    current = await client.batches.retrieve(created.id);
    if (inProgressAt === null && current.status !== "validating") {
      inProgressAt = performance.now();
      cpuAtInProgress = readCpuSeconds(options.ferryPid);
      options.onInProgress?.();
    }
  }
  const endedAt = performance.now();
  const cpuAtEnd = readCpuSeconds(options.ferryPid);
  inProgressAt ??= endedAt;
  const runSeconds = (endedAt - inProgressAt) / 1000;
  const counts = current.request_counts ?? { total: 0, completed: 0, failed: 0 };
  const ferryCpuRunSeconds = cpuAtEnd - cpuAtInProgress;
  return {
    id: created.id,
    status: current.status,
    requestCounts: counts,
    validationSeconds: (inProgressAt - createdAt) / 1000,
    runSeconds,
    linesPerSecond: runSeconds > 0 ? counts.completed / runSeconds : 0,
    ferryCpuRunSeconds,
    ferryCpuTotalSeconds: cpuAtEnd - cpuAtCreate,
    ferryCpuPercent: runSeconds > 0 ? (100 * ferryCpuRunSeconds) / runSeconds : 0,
  };
}
