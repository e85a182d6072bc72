import { describeBackends } from "../backends/describe-backends.js";
import { type Config, ConfigError, loadConfig } from "../config.js";
import { boundHeapGrowth } from "../lib/heap-growth.js";
import { createLogger, type Logger } from "../lib/logger.js";
import { startServer } from "../server.js";
import { type AuthMode, decideAuthMode } from "../services/api-keys.js";
import { createApiKeyStore } from "../store/api-keys.js";
import { openDatabase } from "../store/db.js";
import { migrateDatabase } from "../store/migrate.js";

/** `ferry serve`: start the server and stop it cleanly on SIGTERM / SIGINT. */
export async function runServe(): Promise<void> {
  const config = loadConfigOrExit();
  boundHeapGrowth(config.heapGrowingPercent);
  const logger = createLogger(config.logLevel);
  const authMode = decideAuthModeOrExit(config);
  const server = await startServer(config, logger).catch((err: unknown) => {
    // Found only once the server looks (a configured webhook URL that is not allowed).
    if (err instanceof ConfigError) {
      exitWithConfigError(err);
    }
    throw err;
  });
  logAuthMode(logger, authMode, config);
  logger.info(
    { url: server.url, dataDir: config.dataDir, backends: describeBackends(config.backends) },
    `ferry listening on ${server.url} (OpenAI base URL: ${server.url}/v1)`,
  );
  const shutdown = (signal: string) => {
    logger.info({ signal }, "shutting down");
    // A second signal while draining means "now".
    process.once(signal, () => process.exit(1));
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

/**
 * Open mode (no keys) is for a loopback HOST. Anywhere else ferry will not start without keys,
 * unless FERRY_ALLOW_OPEN=1 says that is intended. (The app enforces the same rule on its own:
 * it never runs open on another HOST, whoever starts it.)
 */
function decideAuthModeOrExit(config: Config): AuthMode {
  const db = openDatabase(config.databasePath);
  let storedKeys: number;
  try {
    migrateDatabase(db);
    storedKeys = createApiKeyStore(db).countActive();
  } finally {
    db.$client.close();
  }
  const mode = decideAuthMode(config, storedKeys);
  if (mode.kind === "refused") {
    console.error(
      `HOST: ${config.host} is not a loopback address and no API keys are configured, so anyone who can reach it could use this server. ` +
        "Create a key (ferry keys create --project <project>) or set FERRY_API_KEYS; or set FERRY_ALLOW_OPEN=1 to serve without keys anyway.",
    );
    console.error("ferry: refusing to start without API keys; nothing was started.");
    process.exit(2);
  }
  return mode;
}

function logAuthMode(logger: Logger, mode: AuthMode, config: Config): void {
  if (mode.kind === "keyed") {
    logger.info(
      { configuredKeys: mode.configuredKeys, storedKeys: mode.storedKeys },
      `API keys required on /v1 (${mode.configuredKeys} from FERRY_API_KEYS, ${mode.storedKeys} in the database)`,
    );
  } else if (mode.kind === "open" && mode.isLoopback) {
    logger.warn(
      `open mode: no API keys are configured, so every request to ${config.host} acts for project 'default' with every scope. ` +
        "Creating a key (ferry keys create) ends open mode at once.",
    );
  } else {
    logger.warn(
      `open mode on ${config.host} (FERRY_ALLOW_OPEN): no API keys are configured, so anyone who can reach this address acts for project 'default' with every scope.`,
    );
  }
}

/** Loads the config; on a bad value prints `VARIABLE: message` per problem and exits 2. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      exitWithConfigError(err);
    }
    throw err;
  }
}

function exitWithConfigError(err: ConfigError): never {
  for (const issue of err.issues) {
    console.error(`${issue.variable}: ${issue.message}`);
  }
  console.error("ferry: invalid configuration; nothing was started.");
  process.exit(2);
}
