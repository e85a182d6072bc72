import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { LogLevel } from "./lib/logger.js";

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
    })
    .default({ max_body_bytes: 32 * 1024 * 1024 }),
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
  readonly limits: { readonly maxBodyBytes: number };
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

export type ConfigOverrides = Partial<Omit<Config, "mock" | "limits">> & {
  mock?: Partial<Config["mock"]>;
  limits?: Partial<Config["limits"]>;
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
  const { mock, limits, ...plain } = overrides;
  const dataDir = path.resolve(plain.dataDir ?? vars.FERRY_DATA_DIR);
  return Object.freeze({
    port: vars.PORT,
    host: vars.HOST,
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
    limits: Object.freeze({ maxBodyBytes: file.limits.max_body_bytes, ...limits }),
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
