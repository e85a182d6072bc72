import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

function configFile(content: unknown): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "ferry-config-")), "ferry.json");
  writeFileSync(file, JSON.stringify(content));
  return file;
}

describe("retention config", () => {
  it("keeps finished responses and batches 24 hours and sweeps every minute by default", () => {
    expect(loadConfig({}).retention).toEqual({
      responsesSeconds: 86_400,
      batchesSeconds: 86_400,
      sweepIntervalMs: 60_000,
    });
  });

  it("reads the retention keys of the config file; 0 and null both mean forever", () => {
    const config = loadConfig({
      FERRY_CONFIG: configFile({
        retention: { responses_seconds: 0, batches_seconds: null, sweep_interval_seconds: 5 },
      }),
    });
    expect(config.retention).toEqual({
      responsesSeconds: null,
      batchesSeconds: null,
      sweepIntervalMs: 5000,
    });
    const short = loadConfig({
      FERRY_CONFIG: configFile({ retention: { responses_seconds: 120 } }),
    });
    expect(short.retention).toEqual({
      responsesSeconds: 120,
      batchesSeconds: 86_400,
      sweepIntervalMs: 60_000,
    });
  });

  it.each([
    [{ responses_seconds: -1 }, "retention.responses_seconds"],
    [{ batches_seconds: 1.5 }, "retention.batches_seconds"],
    [{ sweep_interval_seconds: 0 }, "retention.sweep_interval_seconds"],
    [{ files_seconds: 10 }, "retention"],
  ])("refuses %j", (retention, key) => {
    const run = () => loadConfig({ FERRY_CONFIG: configFile({ retention }) });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(`FERRY_CONFIG:${key}`);
  });
});
