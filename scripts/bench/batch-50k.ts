import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import path from "node:path";
import OpenAI from "openai";
import type { Batch } from "openai/resources/batches";
import type { Benchmark } from "./lib/benchmark.js";
import { buildFerry, type FerryServer, startFerry } from "./lib/ferry-server.js";
import { finishBenchmark } from "./lib/finish.js";
import { PROFILES_DIR } from "./lib/paths.js";
import { readMemoryBytes, startRssSampler, toMegabytes } from "./lib/process-stats.js";
import { TOPICS } from "./lib/questions.js";
import { type Check, describeMachine, fixed, formatMachine, formatTable } from "./lib/report.js";
import { sleep } from "./lib/sleep.js";
import { createTempDir } from "./lib/temp-dir.js";

/**
 * Batches (issue 5), through the official `openai` SDK against ferry on the mock at zero delay.
 *
 * Part 1: a 50,000-line chat-completions JSONL (~10 MB, unique custom_ids) is uploaded
 * (`files.create` from `fs.createReadStream`), run as a batch (`batches.create`, then
 * `batches.retrieve` every 100 ms until it ends), and its output downloaded (`files.content`) and
 * checked: exactly 50,000 lines, one per custom_id. Targets: at least 5,000 lines/s from the
 * upload's start to the batch seen completed, and ferry's peak RSS over the whole run under
 * 300 MB.
 *
 * Part 2: a ~199 MiB JSONL of ~4 KB lines (just under the 200 MiB limit for purpose "batch") is
 * uploaded through the SDK to a fresh ferry. Target: ferry's peak RSS during the upload under
 * 300 MB. The SDK turns a ReadStream into a File, i.e. buffers it in the bench process; only
 * ferry's memory is measured.
 *
 * RSS is sampled every 100 ms from /proc/<pid>/status; the peak reported is the larger of the
 * samples and the kernel's own high-water mark (VmHWM), so a spike between samples still counts.
 *
 * BENCH_CPU_PROF=1 runs part 1's ferry under `node --cpu-prof` and prints its top self-time
 * functions.
 */

const NAME = "batch-50k";
const MODEL = "gpt-4o-mini";
const LINES = 50_000;
const MIN_LINES_PER_SECOND = 5_000;
const MAX_PEAK_RSS_MB = 300;
const POLL_MS = 100;
/** The batch must end within this, or the bench gives up (at 5,000 lines/s it takes 10 s). */
const BATCH_TIMEOUT_MS = 300_000;
const SDK_TIMEOUT_MS = 300_000;
const BIG_FILE_BYTES = 199 * 1024 * 1024;
const BIG_LINE_CONTENT_CHARS = 3_900;

const TERMINAL_BATCH_STATUSES = new Set(["completed", "failed", "expired", "cancelled"]);

interface BatchRunResult {
  readonly inputBytes: number;
  readonly uploadSeconds: number;
  /** Client-observed (100 ms polls): batches.create answered -> first poll not `validating`. */
  readonly validationSeconds: number;
  /** Client-observed: first poll `in_progress` -> first poll `completed`. */
  readonly runSeconds: number;
  /** Upload start -> first poll `completed`. */
  readonly endToEndSeconds: number;
  readonly linesPerSecond: number;
  /** ferry's own timestamps (unix seconds, so whole seconds). */
  readonly serverTimestamps: {
    created_at: number;
    in_progress_at: number | null;
    finalizing_at: number | null;
    completed_at: number | null;
  };
  readonly finalStatus: string;
  readonly requestCounts: { total: number; completed: number; failed: number } | null;
  readonly downloadSeconds: number;
  readonly outputLines: number;
  readonly uniqueCustomIds: number;
  readonly unexpectedCustomIds: number;
  readonly non200Lines: number;
  readonly hasErrorFile: boolean;
  readonly rss: RssFigures;
}

interface RssFigures {
  readonly baselineMb: number;
  readonly peakMb: number;
  readonly samples: number;
  /** Sampled peaks per phase of the run (upload, the batch's statuses, download). */
  readonly peakMbByPhase?: Record<string, number>;
}

interface BigUploadResult {
  readonly bytes: number;
  readonly uploadSeconds: number;
  readonly megabytesPerSecond: number;
  readonly storedBytes: number;
  readonly rss: RssFigures;
}

export const batch50k: Benchmark = {
  name: NAME,
  description: `${LINES}-line batch through the openai SDK; ferry's RSS during it and a 200 MB upload`,
  timeLimitMs: 15 * 60_000,
  async run() {
    const machine = describeMachine();
    const isProfiling = process.env.BENCH_CPU_PROF === "1";
    console.log(formatMachine(machine));
    await buildFerry();
    const temp = await createTempDir("ferry-bench-batch-");
    let batch: BatchRunResult;
    let big: BigUploadResult;
    const profileDir = path.join(PROFILES_DIR, NAME);
    try {
      const inputFile = path.join(temp.path, "batch-input.jsonl");
      const inputBytes = await writeBatchInput(inputFile);
      console.log(
        `part 1: ${LINES} lines, ${fixed(toMegabytes(inputBytes), 1)} MB; upload, run and download through the SDK ...`,
      );
      if (isProfiling) {
        await rm(profileDir, { recursive: true, force: true });
      }
      const ferry = await startFerry({
        nodeArgs: isProfiling ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
      });
      try {
        batch = await runBatch(ferry, inputFile, inputBytes);
      } finally {
        await ferry.stop();
      }
      await rm(inputFile, { force: true });

      const bigFile = path.join(temp.path, "big-upload.jsonl");
      const bigBytes = await writeBigFile(bigFile);
      console.log(
        `part 2: upload of ${fixed(toMegabytes(bigBytes), 1)} MB (purpose batch) to a fresh ferry ...`,
      );
      const bigFerry = await startFerry();
      try {
        big = await uploadBigFile(bigFerry, bigFile, bigBytes);
      } finally {
        await bigFerry.stop();
      }
    } finally {
      await temp.remove();
    }

    const isOutputRight =
      batch.finalStatus === "completed" &&
      batch.outputLines === LINES &&
      batch.uniqueCustomIds === LINES &&
      batch.unexpectedCustomIds === 0;
    const checks: Check[] = [
      {
        label: `lines/s end to end ${fixed(batch.linesPerSecond, 0)} >= ${MIN_LINES_PER_SECOND}`,
        isPass: batch.linesPerSecond >= MIN_LINES_PER_SECOND,
      },
      {
        label: `ferry peak RSS during the batch ${fixed(batch.rss.peakMb, 1)} MB < ${MAX_PEAK_RSS_MB} MB`,
        isPass: batch.rss.peakMb < MAX_PEAK_RSS_MB,
      },
      {
        label: `output: ${batch.outputLines} lines, ${batch.uniqueCustomIds} unique custom_ids (want ${LINES} of the input's), status ${batch.finalStatus}`,
        isPass: isOutputRight,
      },
      {
        label: `ferry peak RSS during the ${fixed(toMegabytes(big.bytes), 0)} MB upload ${fixed(big.rss.peakMb, 1)} MB < ${MAX_PEAK_RSS_MB} MB`,
        isPass: big.rss.peakMb < MAX_PEAK_RSS_MB,
      },
      {
        label: `upload stored all ${big.bytes} bytes (${big.storedBytes})`,
        isPass: big.storedBytes === big.bytes,
      },
    ];
    const isPass = checks.every((check) => check.isPass);

    console.log("");
    console.log(
      formatTable(
        ["batch of 50,000 lines", "value"],
        [
          ["input MB", fixed(toMegabytes(batch.inputBytes), 1)],
          ["upload s", fixed(batch.uploadSeconds, 3)],
          ["validation s (created -> in_progress, seen)", fixed(batch.validationSeconds, 2)],
          ["run s (in_progress -> completed, seen)", fixed(batch.runSeconds, 2)],
          ["upload start -> completed s", fixed(batch.endToEndSeconds, 2)],
          ["lines/s end to end", fixed(batch.linesPerSecond, 0)],
          ["server timestamps (s)", formatServerTimestamps(batch.serverTimestamps)],
          [
            "request_counts",
            batch.requestCounts === null
              ? "-"
              : `total ${batch.requestCounts.total}, completed ${batch.requestCounts.completed}, failed ${batch.requestCounts.failed}`,
          ],
          ["download s", fixed(batch.downloadSeconds, 3)],
          [
            "output lines / unique custom_ids / non-200",
            `${batch.outputLines} / ${batch.uniqueCustomIds} / ${batch.non200Lines}`,
          ],
          ["error file", batch.hasErrorFile ? "yes" : "none"],
          [
            "ferry RSS before / peak MB",
            `${fixed(batch.rss.baselineMb, 1)} / ${fixed(batch.rss.peakMb, 1)}`,
          ],
          [
            "  sampled peak by phase MB",
            Object.entries(batch.rss.peakMbByPhase ?? {})
              .map(([name, mb]) => `${name} ${fixed(mb, 0)}`)
              .join(", "),
          ],
        ],
      ),
    );
    console.log("");
    console.log(
      formatTable(
        ["200 MB upload", "value"],
        [
          ["file MB", fixed(toMegabytes(big.bytes), 1)],
          ["upload s", fixed(big.uploadSeconds, 2)],
          ["MB/s", fixed(big.megabytesPerSecond, 1)],
          [
            "ferry RSS before / peak MB",
            `${fixed(big.rss.baselineMb, 1)} / ${fixed(big.rss.peakMb, 1)}`,
          ],
        ],
      ),
    );
    await finishBenchmark(NAME, {
      checks,
      profileDir: isProfiling ? profileDir : null,
      result: {
        machine,
        load: {
          lines: LINES,
          model: MODEL,
          endpoint: "/v1/chat/completions",
          backend: "mock, zero delay",
          pollMs: POLL_MS,
          bigUploadBytes: big.bytes,
        },
        isProfiling,
        targets: { minLinesPerSecond: MIN_LINES_PER_SECOND, maxPeakRssMb: MAX_PEAK_RSS_MB },
        batch,
        bigUpload: big,
        checks,
        pass: isPass,
      },
    });
    return { isPass };
  },
};

function createClient(ferry: FerryServer): OpenAI {
  return new OpenAI({
    baseURL: `${ferry.url}/v1`,
    apiKey: "sk-bench",
    maxRetries: 0,
    timeout: SDK_TIMEOUT_MS,
  });
}

function customIdOf(index: number): string {
  return `bench-${String(index + 1).padStart(6, "0")}`;
}

/** ~200 bytes a line: a short, varied chat request. Returns the file's size. */
async function writeBatchInput(file: string): Promise<number> {
  const out = createWriteStream(file);
  for (let index = 0; index < LINES; index += 1) {
    const line = JSON.stringify({
      custom_id: customIdOf(index),
      method: "POST",
      url: "/v1/chat/completions",
      body: {
        model: MODEL,
        messages: [
          {
            role: "user",
            content: `In one sentence: ${TOPICS[index % TOPICS.length]}? (#${index})`,
          },
        ],
      },
    });
    if (!out.write(`${line}\n`)) {
      await once(out, "drain");
    }
  }
  out.end();
  await once(out, "finish");
  return (await stat(file)).size;
}

/** Valid batch lines of ~4 KB each, written as they are made, up to BIG_FILE_BYTES. */
async function writeBigFile(file: string): Promise<number> {
  const out = createWriteStream(file);
  const filler = "lorem ipsum dolor sit amet "
    .repeat(Math.ceil(BIG_LINE_CONTENT_CHARS / 27))
    .slice(0, BIG_LINE_CONTENT_CHARS);
  let bytes = 0;
  for (let index = 0; ; index += 1) {
    const line = `${JSON.stringify({
      custom_id: `big-${index + 1}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model: MODEL, messages: [{ role: "user", content: `${index} ${filler}` }] },
    })}\n`;
    if (bytes + line.length > BIG_FILE_BYTES) {
      break;
    }
    bytes += line.length;
    if (!out.write(line)) {
      await once(out, "drain");
    }
  }
  out.end();
  await once(out, "finish");
  return (await stat(file)).size;
}

async function runBatch(
  ferry: FerryServer,
  inputFile: string,
  inputBytes: number,
): Promise<BatchRunResult> {
  const openai = createClient(ferry);
  const baselineBytes = readMemoryBytes(ferry.pid);
  let phase = "upload";
  const sampler = startRssSampler(ferry.pid, { phaseOf: () => phase });
  try {
    const startedAt = performance.now();
    const uploaded = await openai.files.create({
      file: createReadStream(inputFile),
      purpose: "batch",
    });
    phase = "validating";
    const uploadedAt = performance.now();
    const created = await openai.batches.create({
      input_file_id: uploaded.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const createdAt = performance.now();

    let current: Batch = created;
    let inProgressSeenAt: number | null = null;
    const deadline = createdAt + BATCH_TIMEOUT_MS;
    while (!TERMINAL_BATCH_STATUSES.has(current.status)) {
      if (performance.now() > deadline) {
        throw new Error(
          `batch ${created.id} still '${current.status}' after ${BATCH_TIMEOUT_MS} ms (${JSON.stringify(current.request_counts)})`,
        );
      }
      await sleep(POLL_MS);
      current = await openai.batches.retrieve(created.id);
      phase = current.status;
      if (inProgressSeenAt === null && current.status !== "validating") {
        inProgressSeenAt = performance.now();
      }
    }
    const endedAt = performance.now();
    inProgressSeenAt ??= endedAt;

    phase = "download";
    const downloadStartedAt = performance.now();
    const output =
      current.output_file_id === undefined || current.output_file_id === null
        ? ""
        : await (await openai.files.content(current.output_file_id)).text();
    const downloadSeconds = (performance.now() - downloadStartedAt) / 1000;
    const checked = checkOutput(output);
    const rss = sampler.stop();

    return {
      inputBytes,
      uploadSeconds: (uploadedAt - startedAt) / 1000,
      validationSeconds: (inProgressSeenAt - createdAt) / 1000,
      runSeconds: (endedAt - inProgressSeenAt) / 1000,
      endToEndSeconds: (endedAt - startedAt) / 1000,
      linesPerSecond: current.status === "completed" ? (LINES * 1000) / (endedAt - startedAt) : 0,
      serverTimestamps: {
        created_at: current.created_at,
        in_progress_at: current.in_progress_at ?? null,
        finalizing_at: current.finalizing_at ?? null,
        completed_at: current.completed_at ?? null,
      },
      finalStatus: current.status,
      requestCounts: current.request_counts ?? null,
      downloadSeconds,
      ...checked,
      hasErrorFile: current.error_file_id !== undefined && current.error_file_id !== null,
      rss: {
        baselineMb: toMegabytes(baselineBytes),
        peakMb: toMegabytes(Math.max(rss.peakBytes, readMemoryBytes(ferry.pid, "VmHWM"))),
        samples: rss.samples,
        peakMbByPhase: Object.fromEntries(
          Object.entries(rss.peakBytesByPhase).map(([name, bytes]) => [name, toMegabytes(bytes)]),
        ),
      },
    };
  } finally {
    sampler.stop();
  }
}

/** Counts the output's lines and custom_ids against the input's, and lines that were not a 200. */
function checkOutput(output: string): {
  outputLines: number;
  uniqueCustomIds: number;
  unexpectedCustomIds: number;
  non200Lines: number;
} {
  const expected = new Set(Array.from({ length: LINES }, (_, index) => customIdOf(index)));
  const seen = new Set<string>();
  let outputLines = 0;
  let unexpectedCustomIds = 0;
  let non200Lines = 0;
  for (const line of output.split("\n")) {
    if (line === "") {
      continue;
    }
    outputLines += 1;
    const parsed = JSON.parse(line) as { custom_id?: string; response?: { status_code?: number } };
    const customId = parsed.custom_id ?? "";
    if (!expected.has(customId)) {
      unexpectedCustomIds += 1;
    }
    seen.add(customId);
    if (parsed.response?.status_code !== 200) {
      non200Lines += 1;
    }
  }
  return { outputLines, uniqueCustomIds: seen.size, unexpectedCustomIds, non200Lines };
}

async function uploadBigFile(
  ferry: FerryServer,
  file: string,
  bytes: number,
): Promise<BigUploadResult> {
  const openai = createClient(ferry);
  // One small request first, so the baseline is a server that has answered something.
  await openai.models.list();
  const baselineBytes = readMemoryBytes(ferry.pid);
  const sampler = startRssSampler(ferry.pid);
  try {
    const startedAt = performance.now();
    const uploaded = await openai.files.create({ file: createReadStream(file), purpose: "batch" });
    const seconds = (performance.now() - startedAt) / 1000;
    const rss = sampler.stop();
    return {
      bytes,
      uploadSeconds: seconds,
      megabytesPerSecond: toMegabytes(bytes) / seconds,
      storedBytes: uploaded.bytes,
      rss: {
        baselineMb: toMegabytes(baselineBytes),
        peakMb: toMegabytes(Math.max(rss.peakBytes, readMemoryBytes(ferry.pid, "VmHWM"))),
        samples: rss.samples,
      },
    };
  } finally {
    sampler.stop();
  }
}

function formatServerTimestamps(t: BatchRunResult["serverTimestamps"]): string {
  const since = (value: number | null) => (value === null ? "-" : `+${value - t.created_at}`);
  return `created ${t.created_at}, in_progress ${since(t.in_progress_at)}, finalizing ${since(t.finalizing_at)}, completed ${since(t.completed_at)}`;
}
