import { type Config, ConfigError, loadConfig } from "../config.js";
import { createLogger } from "../lib/logger.js";
import { startServer } from "../server.js";

/** `ferry serve`: start the server and stop it cleanly on SIGTERM / SIGINT. */
export async function runServe(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, logger);
  logger.info(
    { url: server.url, dataDir: config.dataDir, backends: "mock (all models)" },
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

/** Loads the config; on a bad value prints `VARIABLE: message` per problem and exits 2. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const issue of err.issues) {
        console.error(`${issue.variable}: ${issue.message}`);
      }
      console.error("ferry: invalid configuration; nothing was started.");
      process.exit(2);
    }
    throw err;
  }
}
