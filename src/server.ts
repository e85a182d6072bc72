import { type ServerType, serve } from "@hono/node-server";
import { createApp } from "./app.js";
import { createBackendRouter } from "./backends/create-backends.js";
import type { Config } from "./config.js";
import { type Clock, systemClock } from "./lib/clock.js";
import type { Logger } from "./lib/logger.js";
import { createServices, type Services } from "./services/create-services.js";
import { startCheckpointer } from "./store/checkpointer.js";
import { openDatabase } from "./store/db.js";
import { migrateDatabase } from "./store/migrate.js";

const SHUTDOWN_GRACE_MS = 5_000;

export interface RunningServer {
  /** e.g. http://127.0.0.1:8000 */
  readonly url: string;
  readonly port: number;
  /** The services behind the app, for operational hooks and tests. */
  readonly services: Services;
  close(): Promise<void>;
}

/** Opens the database, applies migrations, and listens. Resolves once the port is bound. */
export async function startServer(
  config: Config,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<RunningServer> {
  const db = openDatabase(config.databasePath);
  migrateDatabase(db);
  const checkpointer =
    config.databasePath === ":memory:"
      ? null
      : startCheckpointer(db.$client, config.databasePath, logger);
  const router = createBackendRouter(config);
  const services = createServices({
    config,
    db,
    router,
    clock,
    logger,
  });
  const app = createApp({ config, services, logger });
  try {
    // Before anything is served or delivered: the config file's endpoints, as written.
    await services.webhookEndpoints.reconcileConfigured(config.webhooks.endpoints);
  } catch (err) {
    await router.close();
    await checkpointer?.close();
    db.$client.close();
    throw err;
  }
  const removedUploads = await services.removeStaleUploads();
  if (removedUploads > 0) {
    logger.info({ removedUploads }, "deleted uploads left unfinished by a previous run");
  }

  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const listening = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () =>
        resolve(listening),
      );
      listening.once("error", reject);
    });
  } catch (err) {
    // Not listening (the port is taken, say): nothing was started but the database and its
    // checkpoint worker (and idle connection pools), and a caller that recovers must not
    // inherit them.
    await router.close();
    await checkpointer?.close();
    db.$client.close();
    throw err;
  }
  // Longer than the idle timeout of common clients (undici, Node's agent, load balancers), so a
  // client never reuses a connection at the moment the server closes it (ECONNRESET).
  if ("keepAliveTimeout" in server) {
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
  }
  services.start();
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    port,
    services,
    close() {
      closing ??= (async () => {
        // Background work first: in-flight calls are aborted and their leases given back, and
        // live event streams end, so that no open stream holds the HTTP server open.
        await services.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          if ("closeIdleConnections" in server) {
            server.closeIdleConnections();
          }
          // Requests still running after the grace period are cut off.
          setTimeout(() => {
            if ("closeAllConnections" in server) {
              server.closeAllConnections();
            }
          }, SHUTDOWN_GRACE_MS).unref();
        });
        // Last: until the HTTP server has closed, a request may still call an upstream.
        await router.close();
        await checkpointer?.close();
        db.$client.close();
      })();
      return closing;
    },
  };
}
