import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { type ConfigOverrides, loadConfig } from "../../src/config.js";
import { createSilentLogger, type Logger } from "../../src/lib/logger.js";
import { type RunningServer, startServer } from "../../src/server.js";

export interface TestServer {
  readonly url: string;
  readonly dataDir: string;
  /** The official SDK pointed at this server, with retries off so errors surface at once. */
  readonly openai: OpenAI;
  readonly server: RunningServer;
  /** Stops the server; the data dir is kept for a restart unless `removeData` is set. */
  close(options?: { removeData?: boolean }): Promise<void>;
}

/** The real server on a free loopback port, over a temp data dir (or the one given, to restart). */
export async function startTestServer(
  options: { dataDir?: string; config?: ConfigOverrides; logger?: Logger } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), "ferry-test-"));
  const config = loadConfig({}, { port: 0, host: "127.0.0.1", dataDir, ...options.config });
  const server = await startServer(config, options.logger ?? createSilentLogger());
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
  return {
    url: server.url,
    dataDir,
    openai,
    server,
    async close(closeOptions = {}) {
      await server.close();
      if (closeOptions.removeData === true) {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}
