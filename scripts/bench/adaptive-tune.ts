/**
 * Tuning aid for the adaptive limit (issue 13): one batch through ferry (in this process)
 * against the capacity-model fake upstream (knee 32, 429 past REJECT_ABOVE), adaptive vs fixed
 * 8/32/128. Prints lines/s, the upstream's p50/p99 service time, its 429s and max in flight, and
 * the limit ferry ended at. Run: `npx tsx scripts/bench/adaptive-tune.ts [lines] [latencyMs]`.
 * The `upstream` bench (npm run bench -- upstream) is the measured figure; this is the quick loop.
 */
import { toFile } from "openai";
import { startTestServer } from "../../test/helpers/server.js";
import { startFakeUpstream } from "./lib/fake-upstream.js";

const LINES = Number(process.argv[2] ?? 3_000);
const LATENCY_MS = Number(process.argv[3] ?? 50);
const KNEE = 32;
const REJECT_ABOVE = Number(process.argv[4] ?? 64);

async function runOnce(label: string, adaptive: boolean, maxConcurrency: number) {
  const upstream = await startFakeUpstream({
    latencyMs: LATENCY_MS,
    knee: KNEE,
    rejectAbove: REJECT_ABOVE,
  });
  const server = await startTestServer({
    config: {
      backends: [
        {
          type: "openai",
          name: "gpu",
          baseUrl: `${upstream.url}/v1`,
          apiKey: "sk-bench",
          models: ["*"],
          aliases: {},
          maxConcurrency,
          adaptiveConcurrency: adaptive,
          timeoutMs: 60_000,
          headers: {},
        },
      ],
    },
  });
  try {
    const text = Array.from({ length: LINES }, (_, index) =>
      JSON.stringify({
        custom_id: `l${index}`,
        method: "POST",
        url: "/v1/chat/completions",
        body: { model: "m", messages: [{ role: "user", content: `q ${index}` }] },
      }),
    ).join("\n");
    const file = await server.openai.files.create({
      file: await toFile(Buffer.from(`${text}\n`), "b.jsonl"),
      purpose: "batch",
    });
    await upstream.resetStats();
    const startedAt = Date.now();
    const batch = await server.openai.batches.create({
      input_file_id: file.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    let done = batch;
    while (!["completed", "failed", "expired", "cancelled"].includes(done.status)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      done = await server.openai.batches.retrieve(batch.id);
    }
    const seconds = (Date.now() - startedAt) / 1000;
    const stats = await upstream.stats();
    const health = (await (await fetch(`${server.url}/health`)).json()) as {
      backends: { concurrency_limit: number }[];
    };
    console.log(
      JSON.stringify({
        label,
        status: done.status,
        failed: done.request_counts?.failed,
        linesPerSecond: Math.round(LINES / seconds),
        p50Ms: stats.p50Ms,
        p99Ms: stats.p99Ms,
        rejected: stats.rejected,
        maxInFlight: stats.maxInFlight,
        endLimit: health.backends[0]?.concurrency_limit,
      }),
    );
  } finally {
    await server.close({ removeData: true });
    await upstream.stop();
  }
}

await runOnce("adaptive (ceiling 128)", true, 128);
await runOnce("fixed 8", false, 8);
await runOnce("fixed 32", false, 32);
await runOnce("fixed 128", false, 128);
