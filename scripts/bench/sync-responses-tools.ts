import { rm } from "node:fs/promises";
import path from "node:path";
import type { Benchmark } from "./lib/benchmark.js";
import { buildFerry, startFerry } from "./lib/ferry-server.js";
import { finishBenchmark } from "./lib/finish.js";
import {
  findLoadProblems,
  type LoadRequest,
  type LoadSummary,
  readLoadSeconds,
  roundSecondsFor,
  runInterleavedTargets,
} from "./lib/load.js";
import { PROFILES_DIR } from "./lib/paths.js";
import { QUESTIONS } from "./lib/questions.js";
import { type Check, describeMachine, fixed, formatMachine, formatTable } from "./lib/report.js";

/**
 * The cost of tools and structured output on the sync path: one ferry (mock backend, stored in
 * SQLite) loaded in turns with plain-text `POST /v1/responses` requests and with the same
 * requests carrying 5 function tools and a 30-property `json_schema` format. Half of the tool
 * requests name a tool (the mock calls it, with arguments generated from its schema), the other
 * half get JSON generated from the format's schema. Target: the tool requests reach at least
 * 0.85 of the plain requests/s (the schema work must not be the bottleneck).
 *
 * BENCH_CPU_PROF=1 runs ferry under `node --cpu-prof` and prints its top self-time functions.
 */

const NAME = "sync-responses-tools";
const CONNECTIONS = 32;
const MIN_RATIO = 0.85;
const ROUNDS = 6;
const HEADERS = { authorization: "Bearer sk-bench" };

const TOOLS = [
  tool("get_weather", "Get the current weather for a city", {
    city: { type: "string", description: "City name, e.g. Paris" },
    unit: { type: "string", enum: ["celsius", "fahrenheit"] },
  }),
  tool("search_flights", "Search flights between two airports on a date", {
    from: { type: "string", pattern: "^[A-Z]{3}$" },
    to: { type: "string", pattern: "^[A-Z]{3}$" },
    date: { type: "string", format: "date" },
    passengers: { type: "integer", minimum: 1, maximum: 9 },
  }),
  tool("create_ticket", "Open a support ticket", {
    title: { type: "string" },
    priority: { type: "string", enum: ["low", "normal", "high"] },
    tags: { type: "array", items: { type: "string" } },
  }),
  tool("convert_currency", "Convert an amount between currencies", {
    amount: { type: "number", minimum: 0 },
    from: { type: "string", enum: ["EUR", "USD", "GBP", "JPY"] },
    to: { type: "string", enum: ["EUR", "USD", "GBP", "JPY"] },
  }),
  tool("lookup_order", "Look up an order by its id", {
    order_id: { type: "string", format: "uuid" },
    include_items: { type: ["boolean", "null"] },
  }),
];

/** A strict json_schema of 30 properties of every common kind. */
const FORMAT_SCHEMA = (() => {
  const kinds = [
    { type: "string" },
    { type: "integer", minimum: 0, maximum: 1000 },
    { type: "number" },
    { type: "boolean" },
    { type: "string", enum: ["red", "green", "blue"] },
    { type: "array", items: { type: "string" } },
    {
      type: "object",
      properties: { name: { type: "string" }, score: { type: "number" } },
      required: ["name", "score"],
      additionalProperties: false,
    },
    { anyOf: [{ type: "string", format: "date-time" }, { type: "null" }] },
  ];
  const properties: Record<string, unknown> = {};
  for (let index = 0; index < 30; index++) {
    properties[`field_${index}`] = kinds[index % kinds.length];
  }
  return {
    type: "object",
    properties,
    required: Object.keys(properties),
    additionalProperties: false,
  };
})();

const TOOL_QUESTIONS = [
  "What is the weather in Paris right now?",
  "Search flights from LHR to JFK for two passengers.",
  "Please create a ticket: the login page is broken.",
  "Convert 120 EUR to USD.",
];

const PLAIN: LoadRequest[] = QUESTIONS.map((input) => post({ model: "gpt-4o-mini", input }));
const WITH_TOOLS: LoadRequest[] = [...QUESTIONS.slice(0, 4), ...TOOL_QUESTIONS].map((input) =>
  post({
    model: "gpt-4o-mini",
    input,
    tools: TOOLS,
    text: { format: { type: "json_schema", name: "report", schema: FORMAT_SCHEMA, strict: true } },
  }),
);

export const syncResponsesTools: Benchmark = {
  name: NAME,
  description: `sync POST /v1/responses with 5 tools + a 30-property json_schema vs plain text`,
  async run() {
    const machine = describeMachine();
    const seconds = readLoadSeconds();
    console.log(formatMachine(machine));
    await buildFerry();
    const isProfiling = process.env.BENCH_CPU_PROF === "1";
    const profileDir = path.join(PROFILES_DIR, NAME);
    if (isProfiling) {
      await rm(profileDir, { recursive: true, force: true });
    }
    const ferry = await startFerry({
      nodeArgs: isProfiling ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
    });
    let plain: LoadSummary;
    let tools: LoadSummary & { roundRequestsPerSecond: readonly number[] };
    let plainRounds: readonly number[];
    try {
      await probe(ferry.url);
      console.log(`started ferry (pid ${ferry.pid}) at ${ferry.url}`);
      console.log(
        `measuring in ${ROUNDS} rounds of ${roundSecondsFor({ ...seconds, rounds: ROUNDS })} s per workload ...`,
      );
      const [plainSummary, toolsSummary] = await runInterleavedTargets(
        [
          { url: ferry.url, requests: PLAIN },
          { url: ferry.url, requests: WITH_TOOLS },
        ],
        { connections: CONNECTIONS, ...seconds, rounds: ROUNDS, settleMs: 1000, headers: HEADERS },
      );
      if (plainSummary === undefined || toolsSummary === undefined) {
        throw new Error("expected a summary for each workload");
      }
      plain = plainSummary;
      plainRounds = plainSummary.roundRequestsPerSecond;
      tools = toolsSummary;
    } finally {
      await ferry.stop();
    }

    const ratio = tools.requestsPerSecond / plain.requestsPerSecond;
    const problems = [...findLoadProblems("plain", plain), ...findLoadProblems("tools", tools)];
    const checks: Check[] = [
      { label: `ratio tools/plain ${fixed(ratio, 3)} >= ${MIN_RATIO}`, isPass: ratio >= MIN_RATIO },
      { label: "no non-2xx responses, errors or timeouts", isPass: problems.length === 0 },
    ];
    console.log("");
    console.log(
      formatTable(
        ["workload", "req/s", "p50 ms", "p99 ms", "requests"],
        [row("plain", plain), row("5 tools + schema", tools)],
      ),
    );
    console.log("");
    console.log(
      formatTable(
        ["round", "plain req/s", "tools req/s", "ratio"],
        plainRounds.map((plainRate, index) => {
          const toolsRate = tools.roundRequestsPerSecond[index] ?? 0;
          return [
            String(index + 1),
            fixed(plainRate, 0),
            fixed(toolsRate, 0),
            fixed(plainRate > 0 ? toolsRate / plainRate : 0, 3),
          ];
        }),
      ),
    );
    console.log(`\nratio tools/plain (all rounds): ${fixed(ratio, 3)}`);
    await finishBenchmark(NAME, {
      checks,
      problems,
      profileDir: isProfiling ? profileDir : null,
      result: {
        machine,
        load: { connections: CONNECTIONS, ...seconds, rounds: ROUNDS },
        plain,
        tools,
        ratio,
        checks,
      },
    });
    return { isPass: checks.every((check) => check.isPass) };
  },
};

function tool(name: string, description: string, properties: Record<string, unknown>) {
  return {
    type: "function",
    name,
    description,
    strict: true,
    parameters: {
      type: "object",
      properties,
      required: Object.keys(properties),
      additionalProperties: false,
    },
  };
}

function post(body: unknown): LoadRequest {
  return { method: "POST", path: "/v1/responses", body: JSON.stringify(body) };
}

/** A fast wrong answer is not throughput: the tool workload must really call tools and answer JSON. */
async function probe(url: string): Promise<void> {
  const seen = new Set<string>();
  for (const request of WITH_TOOLS) {
    const res = await fetch(`${url}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json", ...HEADERS },
      body: request.body ?? "",
      signal: AbortSignal.timeout(5000),
    });
    const body = (await res.json()) as {
      output?: { type: string; content?: { text?: string }[] }[];
    };
    for (const item of body.output ?? []) {
      if (item.type === "message") {
        JSON.parse(item.content?.[0]?.text ?? ""); // throws unless the text is JSON
      }
      seen.add(item.type);
    }
  }
  if (!seen.has("function_call") || !seen.has("message")) {
    throw new Error(
      `the tool workload should produce both function calls and JSON messages; saw: ${[...seen].join(", ")}`,
    );
  }
}

function row(name: string, summary: LoadSummary): string[] {
  return [
    name,
    fixed(summary.requestsPerSecond, 0),
    fixed(summary.latencyMs.p50),
    fixed(summary.latencyMs.p99),
    String(summary.totalRequests),
  ];
}
