import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { collectOutput, spawnFerry, waitForExit } from "../helpers/spawn-ferry.js";

/** `ferry serve` with a config file whose webhooks.endpoints are wrong: exit 2, saying where. */
async function serveWith(config: unknown): Promise<{ code: number | null; output: string }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "ferry-config-endpoints-"));
  try {
    const configFile = path.join(dataDir, "ferry.json");
    writeFileSync(configFile, JSON.stringify(config));
    const child = spawnFerry(["serve"], {
      PORT: "0",
      FERRY_DATA_DIR: dataDir,
      FERRY_CONFIG: configFile,
    });
    const output = collectOutput(child);
    const exit = await waitForExit(child);
    return { code: exit.code, output: output.text() };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const endpoint = {
  project: "default",
  name: "ops",
  url: "https://hooks.example.com/in",
  event_types: ["batch.completed"],
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
};

describe("webhooks.endpoints in the config file", () => {
  it.concurrent("refuses a URL outbound safety does not allow, naming the entry", {
    timeout: 60_000,
  }, async () => {
    const { code, output } = await serveWith({
      webhooks: { endpoints: [{ ...endpoint, url: "http://169.254.169.254/latest" }] },
    });
    expect(code).toBe(2);
    expect(output).toMatch(/FERRY_CONFIG:webhooks\.endpoints\.0\.url: .*169\.254\.169\.254/);
    expect(output).toMatch(/nothing was started/);
  });

  it.concurrent("refuses an event type ferry does not send, and an entry without a secret", {
    timeout: 60_000,
  }, async () => {
    const unknownType = await serveWith({
      webhooks: { endpoints: [{ ...endpoint, event_types: ["fine_tuning.job.succeeded"] }] },
    });
    expect(unknownType.code).toBe(2);
    expect(unknownType.output).toMatch(/ferry does not send 'fine_tuning\.job\.succeeded'/);
    const { secret: _omitted, ...withoutSecret } = endpoint;
    const noSecret = await serveWith({ webhooks: { endpoints: [withoutSecret] } });
    expect(noSecret.code).toBe(2);
    expect(noSecret.output).toMatch(/exactly one of 'secret' or 'secret_env'/);
  });
});
