import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { collectOutput, spawnFerry, waitForExit, waitForListening } from "./helpers/spawn-ferry.js";

const dirs: string[] = [];
function tempDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "ferry-cli-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("ferry serve", () => {
  it("refuses to start on a bad variable, naming it, with exit code 2", async () => {
    const child = spawnFerry(["serve"], { PORT: "not-a-port", FERRY_DATA_DIR: tempDataDir() });
    const output = collectOutput(child);
    const exit = await waitForExit(child);
    expect(exit.code, output.text()).toBe(2);
    expect(output.text()).toMatch(/^PORT: /m);
  });

  it("logs its URL, serves /health, and exits 0 on SIGTERM", async () => {
    const child = spawnFerry(["serve"], { PORT: "0", FERRY_DATA_DIR: tempDataDir() });
    const url = await waitForListening(child);
    const health = await fetch(`${url}/health`);
    expect(await health.json()).toMatchObject({ status: "ok" });
    expect(health.headers.get("x-request-id")).toMatch(/^req_/);
    child.kill("SIGTERM");
    expect((await waitForExit(child)).code).toBe(0);
  });

  it("logs the backends it was configured with, not the default mock", async () => {
    const dataDir = tempDataDir();
    const configPath = path.join(dataDir, "ferry.json");
    writeFileSync(
      configPath,
      JSON.stringify({
        backends: [
          {
            name: "local-vllm",
            type: "openai",
            base_url: "http://127.0.0.1:9/v1",
            models: ["qwen"],
          },
        ],
      }),
    );
    const child = spawnFerry(["serve"], {
      PORT: "0",
      FERRY_DATA_DIR: dataDir,
      FERRY_CONFIG: configPath,
    });
    const output = collectOutput(child);
    await waitForListening(child);
    child.kill("SIGTERM");
    await waitForExit(child);
    const listening = output
      .text()
      .split("\n")
      .find((line) => line.includes("ferry listening on"));
    expect(listening, output.text()).toBeDefined();
    expect(JSON.parse(listening ?? "{}").backends).toEqual([
      "local-vllm: openai at http://127.0.0.1:9/v1 (qwen)",
    ]);
  });
});
