import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Hono } from "hono";
import { createApp } from "../../src/app.js";
import { createBackendRouter } from "../../src/backends/create-backends.js";
import type { Router } from "../../src/backends/router.js";
import { type Config, type ConfigOverrides, loadConfig } from "../../src/config.js";
import type { AppEnv } from "../../src/http/app-env.js";
import { type Clock, systemClock } from "../../src/lib/clock.js";
import { createSilentLogger, type Logger } from "../../src/lib/logger.js";
import { createServices, type Services } from "../../src/services/create-services.js";
import { type Db, openDatabase } from "../../src/store/db.js";
import type { FileBlobStore } from "../../src/store/file-blobs.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import type { Outbox } from "../../src/webhooks/outbox.js";

export interface TestContext {
  readonly app: Hono<AppEnv>;
  readonly db: Db;
  readonly config: Config;
  readonly services: Services;
  /** POST a JSON body; returns the raw Response. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  get(path: string): Promise<Response>;
  close(): Promise<void>;
}

/**
 * A fresh world per test: a private in-memory database, migrated, and the app over it. The
 * executor is not started; tests that need background work call `services.executor.start()` or
 * drive it with `runOnce()`. Retries back off for 1 ms, so failure paths stay fast.
 */
export function createTestContext(
  options: {
    config?: ConfigOverrides;
    clock?: Clock;
    logger?: Logger;
    /** Replaces the file bytes' store (to inject faults); gets the real one's directory. */
    blobs?: (filesDir: string) => FileBlobStore;
    /** Replaces the configured backends' router (to add a test backend); gets the real one. */
    router?: (configured: Router) => Router;
    /** Where the services record webhook events (none by default). */
    outbox?: Outbox;
  } = {},
): TestContext {
  // Stored files need a real directory; the database stays in memory unless a test names a file.
  const dataDir = mkdtempSync(path.join(tmpdir(), "ferry-test-"));
  const config = loadConfig(
    {},
    {
      dataDir,
      databasePath: ":memory:",
      ...options.config,
      retry: { baseDelayMs: 1, maxDelayMs: 5, ...options.config?.retry },
    },
  );
  const db = openDatabase(config.databasePath);
  migrateDatabase(db);
  const logger = options.logger ?? createSilentLogger();
  const router = (options.router ?? ((configured: Router) => configured))(
    createBackendRouter(config),
  );
  const services = createServices({
    config,
    db,
    router,
    clock: options.clock ?? systemClock,
    logger,
    blobs: options.blobs?.(path.join(dataDir, "files")),
    outbox: options.outbox,
  });
  const app = createApp({ config, services, logger });
  return {
    app,
    db,
    config,
    services,
    post: (path, body, headers = {}) =>
      Promise.resolve(
        app.request(path, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: typeof body === "string" ? body : JSON.stringify(body),
        }),
      ),
    get: (path) => Promise.resolve(app.request(path)),
    async close() {
      await services.stop();
      await router.close();
      db.$client.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Splits an SSE body into frames: `{event, data}` with data as the raw string. */
export function parseSseFrames(text: string): { event: string | null; data: string }[] {
  return text
    .split("\n\n")
    .filter((frame) => frame.trim() !== "")
    .map((frame) => {
      let event: string | null = null;
      const data: string[] = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) {
          event = line.slice(6).trim();
        } else if (line.startsWith("data:")) {
          data.push(line.slice(5).trimStart());
        }
      }
      return { event, data: data.join("\n") };
    });
}
