import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { DEFAULT_CALL_DEADLINE_MS, DEFAULT_MAX_RESPONSE_BYTES } from "./backends/call-bounds.js";
import {
  type ApiKeyScope,
  DEFAULT_API_KEY_SCOPES,
  hashApiKey,
  maskApiKey,
  PROJECT_ID_PATTERN,
  parseScopeList,
} from "./contract/api-keys.js";
import { WebhookEventTypeSchema } from "./contract/webhook-endpoints.js";
import type { LogLevel } from "./lib/logger.js";

/**
 * Attempts a queued item gets against an overloaded upstream: with backoff doubling to
 * max_delay_ms (30 s), about ten minutes of 429s before it fails.
 */
const DEFAULT_OVERLOAD_ATTEMPTS = 24;

/** The most of a backend's concurrency limit kept free of batch work, by default. */
export const DEFAULT_INTERACTIVE_RESERVE = 0.125;

/**
 * The whole configuration: environment variables plus an optional JSON file (`FERRY_CONFIG`).
 * This is the only module that reads the environment. Nothing is parsed at import time, so tests
 * build configs freely with `loadConfig({...})`.
 */

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8000),
  HOST: z.string().trim().min(1).default("127.0.0.1"),
  FERRY_DATA_DIR: z.string().trim().min(1).default("./data"),
  FERRY_CONFIG: z.string().trim().min(1).optional(),
  FERRY_LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  /** `KEY@PROJECT` or `KEY@PROJECT=scope+scope`, comma-separated; see parseApiKeysVariable. */
  FERRY_API_KEYS: z.string().optional(),
  /** Serve without API keys on a HOST other than loopback. */
  FERRY_ALLOW_OPEN: z.stringbool().default(false),
  /** How far the JS heap may grow past its live size before a full GC (lib/heap-growth.ts). */
  FERRY_HEAP_GROWING_PERCENT: z.coerce.number().int().min(0).max(400).default(50),
  /** Overrides the config file's queue.max_queued_per_project. */
  FERRY_MAX_QUEUED_PER_PROJECT: z.coerce.number().int().min(0).max(1_000_000_000).optional(),
  /** The key webhook secrets and callback credentials are sealed with (webhooks/secret-box.ts). */
  FERRY_SECRETS_KEY: z.string().trim().min(1).optional(),
});

const ModelListSchema = z
  .array(z.string().trim().min(1))
  .min(1, 'list at least one model name, or "*" for every model');
const AliasesSchema = z.record(z.string().min(1), z.string().min(1)).default({});

// Bounds on one model call (see services/context-limit.ts and backends/openai-compatible.ts).
/** Public model name (or "*" for the rest) -> its context window in tokens. */
const ContextTokensSchema = z.record(z.string().min(1), z.number().int().min(1).max(100_000_000));
const BoundsFields = { context_tokens: ContextTokensSchema.default({}) };
const UpstreamBoundsFields = {
  /** Largest upstream answer body (JSON, or a stream's SSE bytes in all) one call may read. */
  max_response_bytes: z
    .number()
    .int()
    .min(1024)
    .max(2 * 1024 * 1024 * 1024)
    .default(DEFAULT_MAX_RESPONSE_BYTES),
  /** The longest one call may take from start to end, however steadily the upstream drips. */
  deadline_ms: z.number().int().min(100).max(86_400_000).default(DEFAULT_CALL_DEADLINE_MS),
};

/**
 * How many calls a backend gets at once (see backends/limiter.ts and adaptive-limit.ts).
 * `adaptive_concurrency`: find the upstream's knee within max_concurrency (the ceiling) from
 * latency and 429/503 answers; unset, on for upstreams and off for the mock.
 * `interactive_reserve`: the most of the current limit kept free of batch work, so a client
 * never waits behind a batch; within it the reserve follows what clients used lately, one slot
 * at least (see backends/limiter.ts).
 */
const ConcurrencyFields = {
  adaptive_concurrency: z.boolean().optional(),
  interactive_reserve: z.number().min(0).max(0.9).default(DEFAULT_INTERACTIVE_RESERVE),
};

const MockBackendSchema = z.strictObject({
  name: z.string().trim().min(1),
  type: z.literal("mock"),
  models: ModelListSchema.default(["*"]),
  aliases: AliasesSchema,
  max_concurrency: z.number().int().min(1).max(100_000).default(256),
  ...ConcurrencyFields,
  ttft_ms: z.number().int().min(0).max(600_000).optional(),
  tokens_per_second: z.number().min(0).max(1_000_000).optional(),
  ...BoundsFields,
});

const OpenAIBackendSchema = z.strictObject({
  name: z.string().trim().min(1),
  type: z.literal("openai"),
  base_url: z.url({
    protocol: /^https?$/,
    error: "must be an http(s) URL such as http://127.0.0.1:11434/v1",
  }),
  /** The key itself, or (better) the name of the environment variable that holds it. */
  api_key: z.string().min(1).optional(),
  api_key_env: z.string().min(1).optional(),
  models: ModelListSchema,
  aliases: AliasesSchema,
  max_concurrency: z.number().int().min(1).max(100_000).default(8),
  ...ConcurrencyFields,
  timeout_ms: z.number().int().min(100).max(3_600_000).default(600_000),
  headers: z.record(z.string(), z.string()).default({}),
  ...BoundsFields,
  ...UpstreamBoundsFields,
});

/** An upstream that speaks the Responses API itself (backends/openai-responses.ts). */
const OpenAIResponsesBackendSchema = OpenAIBackendSchema.extend({
  type: z.literal("openai-responses"),
});

export const BackendConfigSchema = z.discriminatedUnion("type", [
  MockBackendSchema,
  OpenAIBackendSchema,
  OpenAIResponsesBackendSchema,
]);

/** OpenAI's limit on a batch input file. */
export const DEFAULT_MAX_BATCH_INPUT_BYTES = 200 * 1024 * 1024;
/**
 * A batch line is one request, held in memory whole while it is checked (its bytes, its text,
 * its parsed JSON: several times its size), so it gets a bound of its own. 32 MiB is the largest
 * JSON body the inference routes take by default (limits.max_body_bytes): a request that could
 * be sent on its own can be sent in a batch. Without a bound, one line of a few hundred MB
 * exhausts V8's string limit (about 512 MiB), or the heap long before that.
 */
export const DEFAULT_MAX_BATCH_LINE_BYTES = 32 * 1024 * 1024;
/** Keeps a line's text well under V8's largest string (2^29 - 24 UTF-16 units). */
const MAX_BATCH_LINE_BYTES = 256 * 1024 * 1024;

/** Finished responses and batches are kept 24 hours by default (the OctoAI guide's promise). */
const DEFAULT_RETENTION_SECONDS = 86_400;
const RetentionSecondsSchema = z
  .number()
  .int()
  .min(0)
  .max(10 * 365 * 86_400)
  .nullable();

/** An endpoint the config file creates (or updates) at start, so a deployment needs no API call. */
const ConfiguredWebhookEndpointSchema = z
  .strictObject({
    project: z.string().regex(PROJECT_ID_PATTERN, "a project name: letters, digits, '_', '.', '-'"),
    name: z.string().trim().min(1).max(256),
    url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
    event_types: z
      .array(WebhookEventTypeSchema)
      .min(1)
      .transform((types) => [...new Set(types)]),
    /**
     * The signing secret (`whsec_…`, 16+ characters); better, `secret_env`, the variable that
     * holds it. One of the two is required: the receiver must know the secret, and the file (or
     * its environment) is where the operator keeps it.
     */
    secret: z.string().min(16).optional(),
    secret_env: z.string().min(1).optional(),
  })
  .refine((endpoint) => (endpoint.secret === undefined) !== (endpoint.secret_env === undefined), {
    error: "give the signing secret as exactly one of 'secret' or 'secret_env'",
  });

/** Webhook and callback delivery (webhooks/delivery-lane.ts). */
const WebhooksSchema = z.strictObject({
  endpoints: z
    .array(ConfiguredWebhookEndpointSchema)
    .default([])
    // An entry is known across restarts by its project and name: two alike would fight over one.
    .superRefine((endpoints, ctx) => {
      const seen = new Set<string>();
      for (const [index, endpoint] of endpoints.entries()) {
        const key = `${endpoint.project}\u0000${endpoint.name}`;
        if (seen.has(key)) {
          ctx.addIssue({
            code: "custom",
            path: [index, "name"],
            message: `another entry of project '${endpoint.project}' is already named '${endpoint.name}'`,
          });
        }
        seen.add(key);
      }
    }),
  /** Deliveries in flight at once, over all endpoints: the delivery lane's own concurrency. */
  max_concurrency: z.number().int().min(1).max(10_000).default(64),
  /** Deliveries in flight at once to any one destination URL's host. */
  max_concurrency_per_host: z.number().int().min(1).max(10_000).default(16),
  /** One attempt's deadline: connect, send, and the receiver's answer. */
  timeout_ms: z.number().int().min(100).max(600_000).default(10_000),
  /** How long a delivery is retried before it ends failed (OpenAI: up to 72 hours). */
  retry_for_seconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 86_400)
    .default(72 * 3600),
  /** The first retry's delay; each further one doubles (with jitter) up to retry_max_delay_ms. */
  retry_base_delay_ms: z.number().int().min(1).max(3_600_000).default(5_000),
  retry_max_delay_ms: z.number().int().min(1).max(86_400_000).default(3_600_000),
  /** An endpoint whose deliveries have all failed for this long is disabled (and reported). */
  disable_after_seconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 86_400)
    .default(72 * 3600),
  /** Most of a receiver's answer body read (and kept with the attempt, trimmed). */
  max_response_bytes: z
    .number()
    .int()
    .min(0)
    .max(1024 * 1024)
    .default(64 * 1024),
});

/** Where webhooks and callbacks may go (webhooks/outbound-url.ts). */
const OutboundSchema = z.strictObject({
  /**
   * Private, loopback or link-local networks (CIDR) deliveries may still go to, e.g.
   * ["127.0.0.1/32"] for a receiver on the same machine. Empty: none.
   */
  allow_networks: z.array(z.string().min(1)).default([]),
});

/** The optional JSON file. snake_case like the API; unknown keys are errors so typos surface. */
export const FileConfigSchema = z.strictObject({
  mock: z
    .strictObject({
      /** Delay before the first token, for apps that want to feel real latency. */
      ttft_ms: z.number().int().min(0).max(600_000).default(0),
      /** Pace of generated tokens; 0 means as fast as possible. */
      tokens_per_second: z.number().min(0).max(1_000_000).default(0),
    })
    .default({ ttft_ms: 0, tokens_per_second: 0 }),
  limits: z
    .strictObject({
      /** Largest JSON request body accepted on the inference routes. */
      max_body_bytes: z
        .number()
        .int()
        .min(1024)
        .max(512 * 1024 * 1024)
        .default(32 * 1024 * 1024),
      /** Requests per minute per API key (a token bucket); 0 means unlimited. */
      requests_per_minute: z.number().int().min(0).max(10_000_000).default(0),
      /** Long-polls (wait_ms > 0) one API key may hold open at once. */
      max_concurrent_long_polls: z.number().int().min(1).max(100_000).default(100),
    })
    .default({
      max_body_bytes: 32 * 1024 * 1024,
      requests_per_minute: 0,
      max_concurrent_long_polls: 100,
    }),
  /** Tried in order: the first backend that serves a model gets it. None: the mock serves all. */
  backends: z
    .array(BackendConfigSchema)
    .superRefine((backends, ctx) => {
      const seen = new Set<string>();
      backends.forEach((backend, index) => {
        if (seen.has(backend.name)) {
          ctx.addIssue({
            code: "custom",
            path: [index, "name"],
            message: `duplicate backend name '${backend.name}'`,
          });
        }
        seen.add(backend.name);
      });
    })
    .optional(),
  executor: z
    .strictObject({
      /** A claimed item is re-queued if its executor stops renewing the lease this long (a crash). */
      lease_ms: z.number().int().min(200).max(3_600_000).default(10_000),
      /** How often an idle executor looks for due retries and expired leases. */
      poll_ms: z.number().int().min(10).max(60_000).default(500),
      commit_batch_size: z.number().int().min(1).max(10_000).default(256),
    })
    .default({ lease_ms: 10_000, poll_ms: 500, commit_batch_size: 256 }),
  batches: z
    .strictObject({
      /** Replaces the length of every completion window ("24h" -> this), for tests and demos. */
      window_seconds: z
        .number()
        .int()
        .min(1)
        .max(30 * 86_400)
        .nullable()
        .default(null),
      /** Largest batch input: an uploaded batch file or a JSONL body (OpenAI: 200 MB). */
      max_input_bytes: z
        .number()
        .int()
        .min(1024)
        .max(2 * 1024 * 1024 * 1024)
        .default(DEFAULT_MAX_BATCH_INPUT_BYTES),
      /** Longest line of a batch input; see DEFAULT_MAX_BATCH_LINE_BYTES. */
      max_line_bytes: z
        .number()
        .int()
        .min(1024)
        .max(MAX_BATCH_LINE_BYTES)
        .default(DEFAULT_MAX_BATCH_LINE_BYTES),
      /**
       * Runs a batch's lines that share a prompt prefix (model, tools, system prompt or
       * instructions, earlier messages) one after another, so an upstream with a prefix cache
       * (vLLM, llama.cpp) reuses it; false: input order. Fairness between batches is the same.
       */
      prefix_scheduling: z.boolean().default(true),
    })
    .default({
      window_seconds: null,
      max_input_bytes: DEFAULT_MAX_BATCH_INPUT_BYTES,
      max_line_bytes: DEFAULT_MAX_BATCH_LINE_BYTES,
      prefix_scheduling: true,
    }),
  retention: z
    .strictObject({
      /**
       * How long a finished response is kept (with its events, its work item and its stream
       * event), counted from when it finished. 0 or null: forever.
       */
      responses_seconds: RetentionSecondsSchema.default(DEFAULT_RETENTION_SECONDS),
      /** How long a finished batch (its row and its lines) is kept. 0 or null: forever. */
      batches_seconds: RetentionSecondsSchema.default(DEFAULT_RETENTION_SECONDS),
      /** How often the sweeper looks for expired data (and for files past their expires_at). */
      sweep_interval_seconds: z.number().int().min(1).max(86_400).default(60),
    })
    .default({
      responses_seconds: DEFAULT_RETENTION_SECONDS,
      batches_seconds: DEFAULT_RETENTION_SECONDS,
      sweep_interval_seconds: 60,
    }),
  queue: z
    .strictObject({
      /**
       * Unfinished work items (background and stream responses, batch lines) one project may have
       * held, queued or running; past it, new work is refused with a 429. 0: no cap.
       */
      max_queued_per_project: z.number().int().min(0).max(1_000_000_000).default(200_000),
    })
    .default({ max_queued_per_project: 200_000 }),
  retry: z
    .strictObject({
      /** Attempts in all, the first included. */
      max_attempts: z.number().int().min(1).max(100).default(4),
      base_delay_ms: z.number().int().min(0).max(600_000).default(500),
      max_delay_ms: z.number().int().min(0).max(3_600_000).default(30_000),
      /**
       * Attempts in all for queued work whose upstream answers it is overloaded (429, 503, a
       * refused connection): a busy upstream is not a bad request, and the adaptive limit needs
       * a few such answers to find the upstream's knee, so they get a budget of their own.
       */
      overload_max_attempts: z.number().int().min(1).max(1000).default(DEFAULT_OVERLOAD_ATTEMPTS),
    })
    .default({
      max_attempts: 4,
      base_delay_ms: 500,
      max_delay_ms: 30_000,
      overload_max_attempts: DEFAULT_OVERLOAD_ATTEMPTS,
    }),
  batch_finalize: z
    .strictObject({
      /**
       * A batch step that fails (finalisation cannot write its files: the disk is full, say) is
       * retried after this long, doubling per failed attempt up to retry_max_ms.
       */
      retry_base_ms: z.number().int().min(1).max(3_600_000).default(1_000),
      retry_max_ms: z.number().int().min(1).max(86_400_000).default(300_000),
      /**
       * Test-only fault injection: a finalisation that has written its files stops just before
       * its final transaction and never goes on (the crash tests kill -9 the process there).
       */
      test_hold_before_commit: z.boolean().default(false),
    })
    .default({ retry_base_ms: 1_000, retry_max_ms: 300_000, test_hold_before_commit: false }),
  streaming: z
    .strictObject({
      /**
       * How long one SSE write may wait for a client that stopped reading before its stream is
       * ended (freeing the backend slot a sync stream holds; a background response runs on).
       */
      write_timeout_ms: z.number().int().min(10).max(3_600_000).default(30_000),
    })
    .default({ write_timeout_ms: 30_000 }),
  webhooks: WebhooksSchema.default(WebhooksSchema.parse({})),
  outbound: OutboundSchema.default({ allow_networks: [] }),
});

export type FileConfig = z.infer<typeof FileConfigSchema>;

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** `:memory:` in tests; `<dataDir>/ferry.db` otherwise. */
  readonly databasePath: string;
  readonly configFile: string | null;
  readonly logLevel: LogLevel;
  readonly mock: { readonly ttftMs: number; readonly tokensPerSecond: number };
  readonly limits: {
    readonly maxBodyBytes: number;
    /** 0: unlimited. */
    readonly requestsPerMinute: number;
    readonly maxConcurrentLongPolls: number;
  };
  /** Keys from FERRY_API_KEYS, hashed as they are read; checked in memory, never stored. */
  readonly apiKeys: readonly ConfiguredApiKey[];
  /** FERRY_ALLOW_OPEN: run without keys even on a HOST other than loopback. */
  readonly allowOpen: boolean;
  /** FERRY_HEAP_GROWING_PERCENT; 0 leaves V8's own heap growth. */
  readonly heapGrowingPercent: number;
  /** null: no backends configured, the mock serves every model. */
  readonly backends: readonly BackendConfig[] | null;
  readonly executor: {
    readonly leaseMs: number;
    readonly pollMs: number;
    readonly commitBatchSize: number;
  };
  readonly retry: {
    readonly maxAttempts: number;
    readonly baseDelayMs: number;
    readonly maxDelayMs: number;
    readonly overloadMaxAttempts: number;
  };
  readonly streaming: { readonly writeTimeoutMs: number };
  readonly batches: {
    readonly windowSecondsOverride: number | null;
    /** Uploaded batch files and JSONL bodies of POST /v1/batches. */
    readonly maxInputBytes: number;
    /** Any one line of a batch input, its line ending excluded. */
    readonly maxLineBytes: number;
    /** Lines sharing a prompt prefix are dispatched together (see services/prompt-prefix.ts). */
    readonly prefixScheduling: boolean;
  };
  readonly batchFinalize: {
    readonly retryBaseMs: number;
    readonly retryMaxMs: number;
    /** Test-only: hold every finalisation just before its commit (see FileConfigSchema). */
    readonly testHoldBeforeCommit: boolean;
  };
  /** 0: no cap. */
  readonly queue: { readonly maxQueuedPerProject: number };
  readonly webhooks: WebhooksConfig;
  readonly outbound: { readonly allowNetworks: readonly string[] };
  /** FERRY_SECRETS_KEY; null: `<dataDir>/secrets.key`, made on first use. */
  readonly secretsKey: string | null;
  /** null: kept forever. Files follow their own expires_at whatever this says. */
  readonly retention: {
    readonly responsesSeconds: number | null;
    readonly batchesSeconds: number | null;
    readonly sweepIntervalMs: number;
  };
}

export type BackendConfig =
  | {
      readonly type: "mock";
      readonly name: string;
      readonly models: readonly string[];
      readonly aliases: Readonly<Record<string, string>>;
      readonly maxConcurrency: number;
      /** Unset: off for the mock. */
      readonly adaptiveConcurrency?: boolean;
      /** Unset: DEFAULT_INTERACTIVE_RESERVE. */
      readonly interactiveReserve?: number;
      readonly ttftMs: number | null;
      readonly tokensPerSecond: number | null;
      readonly contextTokens?: Readonly<Record<string, number>>;
    }
  /** "openai" speaks Chat Completions to the upstream, "openai-responses" the Responses API. */
  | ({ readonly type: "openai" } & UpstreamBackendConfig)
  | ({ readonly type: "openai-responses" } & UpstreamBackendConfig);

/** What every upstream backend has, whichever API it speaks. */
export interface UpstreamBackendConfig {
  readonly name: string;
  readonly baseUrl: string;
  readonly apiKey: string | null;
  readonly models: readonly string[];
  readonly aliases: Readonly<Record<string, string>>;
  /** The ceiling of the adaptive limit, or the limit itself when adaptiveConcurrency is off. */
  readonly maxConcurrency: number;
  /** Unset: on. */
  readonly adaptiveConcurrency?: boolean;
  /** Unset: DEFAULT_INTERACTIVE_RESERVE. */
  readonly interactiveReserve?: number;
  readonly timeoutMs: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Public model name (or "*") -> context window in tokens; unset: DEFAULT_CONTEXT_TOKENS. */
  readonly contextTokens?: Readonly<Record<string, number>>;
  /** Unset: DEFAULT_MAX_RESPONSE_BYTES. */
  readonly maxResponseBytes?: number;
  /** Unset: DEFAULT_CALL_DEADLINE_MS. */
  readonly deadlineMs?: number;
}

export interface WebhooksConfig {
  readonly endpoints: readonly ConfiguredWebhookEndpoint[];
  readonly maxConcurrency: number;
  readonly maxConcurrencyPerHost: number;
  readonly timeoutMs: number;
  readonly retryForMs: number;
  readonly retryBaseDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly disableAfterSeconds: number;
  readonly maxResponseBytes: number;
}

/** A webhooks.endpoints entry, its secret read from the variable it names. */
export interface ConfiguredWebhookEndpoint {
  readonly projectId: string;
  readonly name: string;
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly secret: string;
}

/** One FERRY_API_KEYS entry. The key itself is not kept, only its hash. */
export interface ConfiguredApiKey {
  readonly keyHash: string;
  /** The key masked for logs and messages, e.g. `sk-ferr****…abcd`. */
  readonly maskedKey: string;
  readonly projectId: string;
  readonly scopes: readonly ApiKeyScope[];
}

export interface ConfigIssue {
  /** The environment variable or config-file key at fault, e.g. `PORT` or `FERRY_CONFIG:mock.ttft_ms`. */
  readonly variable: string;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map((issue) => `${issue.variable}: ${issue.message}`).join("\n"));
    this.name = "ConfigError";
  }
}

export type ConfigOverrides = Partial<
  Omit<
    Config,
    | "mock"
    | "limits"
    | "executor"
    | "retry"
    | "batches"
    | "retention"
    | "batchFinalize"
    | "streaming"
    | "queue"
    | "webhooks"
    | "outbound"
  >
> & {
  webhooks?: Partial<WebhooksConfig>;
  outbound?: Partial<Config["outbound"]>;
  streaming?: Partial<Config["streaming"]>;
  queue?: Partial<Config["queue"]>;
  batches?: Partial<Config["batches"]>;
  batchFinalize?: Partial<Config["batchFinalize"]>;
  retention?: Partial<Config["retention"]>;
  mock?: Partial<Config["mock"]>;
  limits?: Partial<Config["limits"]>;
  executor?: Partial<Config["executor"]>;
  retry?: Partial<Config["retry"]>;
};

/**
 * Reads env (and the file it names), validates both, and returns a frozen Config.
 * Throws ConfigError naming each bad variable.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: ConfigOverrides = {},
): Config {
  // Empty strings mean "unset": `PORT= ferry serve` should not be a parse error.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const parsedEnv = EnvSchema.safeParse(present);
  if (!parsedEnv.success) {
    throw new ConfigError(
      parsedEnv.error.issues.map((issue) => ({
        variable: issue.path.join(".") || "environment",
        message: issue.message,
      })),
    );
  }
  const vars = parsedEnv.data;
  const file = readConfigFile(vars.FERRY_CONFIG);
  const {
    mock,
    limits,
    executor,
    retry,
    batches,
    retention,
    batchFinalize,
    streaming,
    queue,
    webhooks,
    outbound,
    ...plain
  } = overrides;
  const dataDir = path.resolve(plain.dataDir ?? vars.FERRY_DATA_DIR);
  const apiKeys = parseApiKeysVariable(vars.FERRY_API_KEYS ?? "");
  return Object.freeze({
    port: vars.PORT,
    host: vars.HOST,
    apiKeys,
    allowOpen: vars.FERRY_ALLOW_OPEN,
    heapGrowingPercent: vars.FERRY_HEAP_GROWING_PERCENT,
    configFile: vars.FERRY_CONFIG ?? null,
    logLevel: vars.FERRY_LOG_LEVEL,
    ...plain,
    dataDir,
    databasePath: plain.databasePath ?? path.join(dataDir, "ferry.db"),
    mock: Object.freeze({
      ttftMs: file.mock.ttft_ms,
      tokensPerSecond: file.mock.tokens_per_second,
      ...mock,
    }),
    limits: Object.freeze({
      maxBodyBytes: file.limits.max_body_bytes,
      requestsPerMinute: file.limits.requests_per_minute,
      maxConcurrentLongPolls: file.limits.max_concurrent_long_polls,
      ...limits,
    }),
    backends: plain.backends ?? readBackends(file, env),
    executor: Object.freeze({
      leaseMs: file.executor.lease_ms,
      pollMs: file.executor.poll_ms,
      commitBatchSize: file.executor.commit_batch_size,
      ...executor,
    }),
    batches: Object.freeze({
      windowSecondsOverride: file.batches.window_seconds,
      maxInputBytes: file.batches.max_input_bytes,
      maxLineBytes: file.batches.max_line_bytes,
      prefixScheduling: file.batches.prefix_scheduling,
      ...batches,
    }),
    batchFinalize: Object.freeze({
      retryBaseMs: file.batch_finalize.retry_base_ms,
      retryMaxMs: file.batch_finalize.retry_max_ms,
      testHoldBeforeCommit: file.batch_finalize.test_hold_before_commit,
      ...batchFinalize,
    }),
    queue: Object.freeze({
      maxQueuedPerProject: vars.FERRY_MAX_QUEUED_PER_PROJECT ?? file.queue.max_queued_per_project,
      ...queue,
    }),
    retention: Object.freeze({
      responsesSeconds: file.retention.responses_seconds || null,
      batchesSeconds: file.retention.batches_seconds || null,
      sweepIntervalMs: file.retention.sweep_interval_seconds * 1000,
      ...retention,
    }),
    retry: Object.freeze({
      maxAttempts: file.retry.max_attempts,
      baseDelayMs: file.retry.base_delay_ms,
      maxDelayMs: file.retry.max_delay_ms,
      overloadMaxAttempts: file.retry.overload_max_attempts,
      ...retry,
    }),
    streaming: Object.freeze({ writeTimeoutMs: file.streaming.write_timeout_ms, ...streaming }),
    webhooks: Object.freeze({
      endpoints: readWebhookEndpoints(file, env),
      maxConcurrency: file.webhooks.max_concurrency,
      maxConcurrencyPerHost: file.webhooks.max_concurrency_per_host,
      timeoutMs: file.webhooks.timeout_ms,
      retryForMs: file.webhooks.retry_for_seconds * 1000,
      retryBaseDelayMs: file.webhooks.retry_base_delay_ms,
      retryMaxDelayMs: file.webhooks.retry_max_delay_ms,
      disableAfterSeconds: file.webhooks.disable_after_seconds,
      maxResponseBytes: file.webhooks.max_response_bytes,
      ...webhooks,
    }),
    outbound: Object.freeze({ allowNetworks: file.outbound.allow_networks, ...outbound }),
    secretsKey: plain.secretsKey ?? vars.FERRY_SECRETS_KEY ?? null,
  });
}

/** webhooks.endpoints, with secrets read from the variables they name. */
function readWebhookEndpoints(
  file: FileConfig,
  env: Record<string, string | undefined>,
): ConfiguredWebhookEndpoint[] {
  return file.webhooks.endpoints.map((endpoint, index) => {
    let secret = endpoint.secret ?? "";
    if (endpoint.secret_env !== undefined) {
      secret = env[endpoint.secret_env] ?? "";
      if (secret.length < 16) {
        throw new ConfigError([
          {
            variable: `FERRY_CONFIG:webhooks.endpoints.${index}.secret_env`,
            message: `the environment variable ${endpoint.secret_env} is not set, or shorter than 16 characters`,
          },
        ]);
      }
    }
    return Object.freeze({
      projectId: endpoint.project,
      name: endpoint.name,
      url: endpoint.url,
      eventTypes: Object.freeze([...endpoint.event_types]),
      secret,
    });
  });
}

/**
 * FERRY_API_KEYS: comma-separated `KEY@PROJECT` (every resource scope) or
 * `KEY@PROJECT=scope+scope`, e.g. `sk-a1@alpha,sk-a2@alpha=responses:read,sk-b1@beta`. Keys are
 * hashed here and the text dropped; messages about a bad entry show the key masked.
 */
export function parseApiKeysVariable(text: string): ConfiguredApiKey[] {
  const keys: ConfiguredApiKey[] = [];
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  const entries = text.split(",").map((entry) => entry.trim());
  entries.forEach((entry, index) => {
    if (entry === "") {
      return;
    }
    const at = entry.indexOf("@");
    const key = (at === -1 ? entry : entry.slice(0, at)).trim();
    const fail = (message: string) =>
      issues.push({
        variable: "FERRY_API_KEYS",
        message: `entry ${index + 1} (${maskApiKey(key)}): ${message}`,
      });
    if (at === -1) {
      fail("expected KEY@PROJECT or KEY@PROJECT=scope+scope");
      return;
    }
    const rest = entry.slice(at + 1);
    const equals = rest.indexOf("=");
    const projectId = (equals === -1 ? rest : rest.slice(0, equals)).trim();
    if (key === "" || /[\s=]/.test(key)) {
      fail("the key must be non-empty, with no spaces, '@', ',' or '='");
      return;
    }
    if (!PROJECT_ID_PATTERN.test(projectId)) {
      fail(
        `'${projectId}' is not a valid project: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`,
      );
      return;
    }
    let scopes: readonly ApiKeyScope[] = DEFAULT_API_KEY_SCOPES;
    if (equals !== -1) {
      try {
        scopes = parseScopeList(rest.slice(equals + 1), "+");
      } catch (err) {
        fail(err instanceof Error ? err.message : String(err));
        return;
      }
    }
    const keyHash = hashApiKey(key);
    if (seen.has(keyHash)) {
      fail("the same key is listed twice");
      return;
    }
    seen.add(keyHash);
    keys.push(
      Object.freeze({
        keyHash,
        maskedKey: maskApiKey(key),
        projectId,
        scopes: Object.freeze(scopes),
      }),
    );
  });
  if (issues.length > 0) {
    throw new ConfigError(issues);
  }
  return keys;
}

/** Backends from the file, with API keys read from the variables they name. */
function readBackends(
  file: FileConfig,
  env: Record<string, string | undefined>,
): BackendConfig[] | null {
  if (file.backends === undefined) {
    return null;
  }
  return file.backends.map((backend, index): BackendConfig => {
    if (backend.type === "mock") {
      return {
        type: "mock",
        name: backend.name,
        models: backend.models,
        aliases: backend.aliases,
        maxConcurrency: backend.max_concurrency,
        adaptiveConcurrency: backend.adaptive_concurrency ?? false,
        interactiveReserve: backend.interactive_reserve,
        ttftMs: backend.ttft_ms ?? null,
        tokensPerSecond: backend.tokens_per_second ?? null,
        contextTokens: backend.context_tokens,
      };
    }
    let apiKey = backend.api_key ?? null;
    if (backend.api_key_env !== undefined) {
      apiKey = env[backend.api_key_env] ?? null;
      if (apiKey === null || apiKey === "") {
        throw new ConfigError([
          {
            variable: `FERRY_CONFIG:backends.${index}.api_key_env`,
            message: `the environment variable ${backend.api_key_env} is not set`,
          },
        ]);
      }
    }
    return {
      type: backend.type,
      name: backend.name,
      baseUrl: backend.base_url,
      apiKey,
      models: backend.models,
      aliases: backend.aliases,
      maxConcurrency: backend.max_concurrency,
      adaptiveConcurrency: backend.adaptive_concurrency ?? true,
      interactiveReserve: backend.interactive_reserve,
      timeoutMs: backend.timeout_ms,
      headers: backend.headers,
      contextTokens: backend.context_tokens,
      maxResponseBytes: backend.max_response_bytes,
      deadlineMs: backend.deadline_ms,
    };
  });
}

function readConfigFile(filePath: string | undefined): FileConfig {
  if (filePath === undefined) {
    return FileConfigSchema.parse({});
  }
  let raw: string;
  try {
    raw = readFileSync(filePath, "utf8");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError([
      { variable: "FERRY_CONFIG", message: `cannot read ${filePath}: ${reason}` },
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError([
      { variable: "FERRY_CONFIG", message: `${filePath} is not valid JSON: ${reason}` },
    ]);
  }
  const parsed = FileConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        variable: `FERRY_CONFIG:${issue.path.join(".") || "(root)"}`,
        message: issue.message,
      })),
    );
  }
  return parsed.data;
}
