import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) {
      return err;
    }
    throw err;
  }
  throw new Error("expected a ConfigError");
}

function writeConfigFile(content: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "ferry-config-")), "ferry.json");
  writeFileSync(file, content);
  return file;
}

describe("loadConfig", () => {
  it("has the embedded defaults: 127.0.0.1:8000, ./data, info, a mock with no latency", () => {
    const config = loadConfig({});
    expect(config.port).toBe(8000);
    expect(config.host).toBe("127.0.0.1");
    expect(config.dataDir).toBe(path.resolve("./data"));
    expect(config.databasePath).toBe(path.resolve("./data/ferry.db"));
    expect(config.logLevel).toBe("info");
    expect(config.mock).toEqual({ ttftMs: 0, tokensPerSecond: 0 });
    expect(config.heapGrowingPercent).toBe(50);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("reads the environment", () => {
    const config = loadConfig({
      PORT: "9001",
      HOST: "0.0.0.0",
      FERRY_DATA_DIR: "/tmp/x",
      FERRY_LOG_LEVEL: "debug",
      FERRY_HEAP_GROWING_PERCENT: "0",
    });
    expect(config).toMatchObject({
      port: 9001,
      host: "0.0.0.0",
      dataDir: "/tmp/x",
      logLevel: "debug",
      heapGrowingPercent: 0,
    });
  });

  it("treats empty variables as unset", () => {
    expect(loadConfig({ PORT: "", FERRY_LOG_LEVEL: "" }).port).toBe(8000);
  });

  it.each([
    ["PORT", "eighty"],
    ["PORT", "70000"],
    ["PORT", "80.5"],
    ["FERRY_LOG_LEVEL", "loud"],
    ["HOST", "   "],
    ["FERRY_HEAP_GROWING_PERCENT", "-5"],
    ["FERRY_HEAP_GROWING_PERCENT", "lots"],
  ])("names the variable when %s=%s is bad", (name, value) => {
    const err = configErrorOf(() => loadConfig({ [name]: value }));
    expect(err.issues[0]?.variable).toBe(name);
    expect(err.message).toContain(`${name}:`);
  });

  it("reads the config file named by FERRY_CONFIG", () => {
    const file = writeConfigFile(JSON.stringify({ mock: { ttft_ms: 250, tokens_per_second: 40 } }));
    expect(loadConfig({ FERRY_CONFIG: file }).mock).toEqual({ ttftMs: 250, tokensPerSecond: 40 });
  });

  it.each([
    ["not JSON", "{nope", "FERRY_CONFIG"],
    ["an unknown key", JSON.stringify({ mokc: {} }), "FERRY_CONFIG:(root)"],
    ["a bad value", JSON.stringify({ mock: { ttft_ms: -1 } }), "FERRY_CONFIG:mock.ttft_ms"],
  ])("rejects a config file with %s, naming where", (_name, content, variable) => {
    const err = configErrorOf(() => loadConfig({ FERRY_CONFIG: writeConfigFile(content) }));
    expect(err.issues[0]?.variable).toBe(variable);
  });

  it("rejects two webhook endpoints of one project with the same name, naming the second", () => {
    const endpoint = {
      project: "p",
      name: "ops",
      url: "https://hooks.example.com/in",
      event_types: ["batch.completed"],
      secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    };
    const content = JSON.stringify({ webhooks: { endpoints: [endpoint, endpoint] } });
    const err = configErrorOf(() => loadConfig({ FERRY_CONFIG: writeConfigFile(content) }));
    expect(err.issues[0]?.variable).toBe("FERRY_CONFIG:webhooks.endpoints.1.name");
    expect(err.issues[0]?.message).toMatch(/already named 'ops'/);
    const other = { ...endpoint, project: "q" };
    const fine = JSON.stringify({ webhooks: { endpoints: [endpoint, other] } });
    expect(loadConfig({ FERRY_CONFIG: writeConfigFile(fine) }).webhooks.endpoints).toHaveLength(2);
  });

  it("rejects a config file that does not exist", () => {
    const err = configErrorOf(() => loadConfig({ FERRY_CONFIG: "/nonexistent/ferry.json" }));
    expect(err.issues[0]?.variable).toBe("FERRY_CONFIG");
    expect(err.message).toContain("cannot read");
  });
});

describe("the per-project queue cap setting", () => {
  it("defaults to 200,000, is read from the config file, and FERRY_MAX_QUEUED_PER_PROJECT wins", () => {
    expect(loadConfig({}).queue.maxQueuedPerProject).toBe(200_000);
    const file = writeConfigFile(JSON.stringify({ queue: { max_queued_per_project: 0 } }));
    expect(loadConfig({ FERRY_CONFIG: file }).queue.maxQueuedPerProject).toBe(0);
    expect(
      loadConfig({ FERRY_CONFIG: file, FERRY_MAX_QUEUED_PER_PROJECT: "5000" }).queue
        .maxQueuedPerProject,
    ).toBe(5000);
  });

  it("names the variable or key of a bad value", () => {
    const fromEnv = configErrorOf(() => loadConfig({ FERRY_MAX_QUEUED_PER_PROJECT: "-1" }));
    expect(fromEnv.issues.map((issue) => issue.variable)).toEqual(["FERRY_MAX_QUEUED_PER_PROJECT"]);
    const file = writeConfigFile(JSON.stringify({ queue: { max_queued_per_project: "many" } }));
    const fromFile = configErrorOf(() => loadConfig({ FERRY_CONFIG: file }));
    expect(fromFile.issues.map((issue) => issue.variable)).toEqual([
      "FERRY_CONFIG:queue.max_queued_per_project",
    ]);
  });
});

describe("the prefix scheduling setting", () => {
  it("is on by default, read from batches.prefix_scheduling, and must be a boolean", () => {
    expect(loadConfig({}).batches.prefixScheduling).toBe(true);
    const off = writeConfigFile(JSON.stringify({ batches: { prefix_scheduling: false } }));
    expect(loadConfig({ FERRY_CONFIG: off }).batches.prefixScheduling).toBe(false);
    const bad = writeConfigFile(JSON.stringify({ batches: { prefix_scheduling: "yes" } }));
    expect(configErrorOf(() => loadConfig({ FERRY_CONFIG: bad })).issues[0]?.variable).toBe(
      "FERRY_CONFIG:batches.prefix_scheduling",
    );
  });
});
