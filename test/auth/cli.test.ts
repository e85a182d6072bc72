import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  collectOutput,
  spawnFerry,
  waitForExit,
  waitForListening,
} from "../helpers/spawn-ferry.js";

const dirs: string[] = [];
function tempDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "ferry-auth-cli-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs a CLI command to its end; returns its exit code, stdout and everything it printed. */
async function run(args: string[], env: Record<string, string>) {
  const child = spawnFerry(args, env);
  let stdout = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const output = collectOutput(child);
  const exit = await waitForExit(child);
  return { code: exit.code, stdout, text: output.text() };
}

/** The server's base URL on loopback, whatever interface it listens on. */
function loopback(url: string): string {
  return url.replace("://0.0.0.0:", "://127.0.0.1:");
}

describe("ferry serve and API keys", () => {
  it("refuses to start on 0.0.0.0 without keys, with exit code 2 and the way out", async () => {
    const result = await run(["serve"], {
      HOST: "0.0.0.0",
      PORT: "0",
      FERRY_DATA_DIR: tempDataDir(),
    });
    expect(result.code, result.text).toBe(2);
    expect(result.text).toMatch(/^HOST: 0\.0\.0\.0 is not a loopback address/m);
    expect(result.text).toMatch(/FERRY_ALLOW_OPEN=1/);
    expect(result.text).not.toMatch(/ferry listening/);
  });

  it("starts open on 0.0.0.0 with FERRY_ALLOW_OPEN=1, and says so", async () => {
    const child = spawnFerry(["serve"], {
      HOST: "0.0.0.0",
      PORT: "0",
      FERRY_ALLOW_OPEN: "1",
      FERRY_DATA_DIR: tempDataDir(),
    });
    const output = collectOutput(child);
    try {
      const url = loopback(await waitForListening(child));
      const res = await fetch(`${url}/v1/models`);
      expect(res.status).toBe(200);
      expect(output.text()).toMatch(/open mode on 0\.0\.0\.0 \(FERRY_ALLOW_OPEN\)/);
    } finally {
      child.kill("SIGTERM");
      await waitForExit(child);
    }
  });

  it("starts open on loopback without keys, and says so", async () => {
    const child = spawnFerry(["serve"], { PORT: "0", FERRY_DATA_DIR: tempDataDir() });
    const output = collectOutput(child);
    try {
      const url = await waitForListening(child);
      const me = await fetch(`${url}/v1/auth/me`);
      expect(await me.json()).toMatchObject({ project_id: "default", scopes: ["admin"] });
      expect(output.text()).toMatch(/open mode: no API keys are configured/);
    } finally {
      child.kill("SIGTERM");
      await waitForExit(child);
    }
  });

  it("names FERRY_API_KEYS on a bad entry and exits 2", async () => {
    const result = await run(["serve"], {
      PORT: "0",
      FERRY_DATA_DIR: tempDataDir(),
      FERRY_API_KEYS: "sk-a1@alpha=responses:everything",
    });
    expect(result.code, result.text).toBe(2);
    expect(result.text).toMatch(/^FERRY_API_KEYS: entry 1 .*unknown scope 'responses:everything'/m);
  });
});

describe("ferry keys", () => {
  // Six CLI processes, each compiling the sources with tsx: seconds apiece on a busy machine.
  it("creates, lists and revokes keys; a running server follows without a restart", {
    timeout: 90_000,
  }, async () => {
    const dataDir = tempDataDir();
    const env = { FERRY_DATA_DIR: dataDir };

    const created = await run(
      [
        "keys",
        "create",
        "--project",
        "alpha",
        "--scopes",
        "responses:read,batches:read",
        "--name",
        "ci",
      ],
      env,
    );
    expect(created.code, created.text).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^sk-ferry-[A-Za-z0-9_-]{43}$/);
    const id = /(key_[0-9a-f]{24})/.exec(created.text)?.[1] ?? "";
    expect(created.text).toContain(`(${key.slice(0, 13)}) for project 'alpha'`);
    expect(created.text).toMatch(/only time the key is shown/);

    const listed = await run(["keys", "list"], env);
    expect(listed.code, listed.text).toBe(0);
    expect(listed.stdout).toMatch(
      /^ID\s+PROJECT\s+NAME\s+PREFIX\s+SCOPES\s+CREATED\s+LAST USED\s+REVOKED/,
    );
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).toContain(key.slice(0, 13));
    expect(listed.stdout).toContain("responses:read,batches:read");
    expect(listed.stdout).not.toContain(key);

    // A keyed server may listen beyond loopback.
    const server = spawnFerry(["serve"], { ...env, HOST: "0.0.0.0", PORT: "0" });
    const output = collectOutput(server);
    try {
      const url = loopback(await waitForListening(server));
      expect(output.text()).toMatch(
        /API keys required on \/v1 \(0 from FERRY_API_KEYS, 1 in the database\)/,
      );
      expect((await fetch(`${url}/v1/models`)).status).toBe(401);
      const me = await fetch(`${url}/v1/auth/me`, { headers: { authorization: `Bearer ${key}` } });
      expect(await me.json()).toMatchObject({ project_id: "alpha", key_id: id, name: "ci" });

      // Created while the server runs: works at once.
      const second = await run(["keys", "create", "--project", "beta", "--json"], env);
      const secondJson = JSON.parse(second.stdout) as { key: string; id: string; scopes: string[] };
      expect(secondJson.scopes).not.toContain("admin");
      const beta = await fetch(`${url}/v1/auth/me`, { headers: { "x-api-key": secondJson.key } });
      expect(await beta.json()).toMatchObject({ project_id: "beta", key_id: secondJson.id });

      // Revoked while the server runs: refused within the lookup cache's second.
      const revoked = await run(["keys", "revoke", id], env);
      expect(revoked.code, revoked.text).toBe(0);
      expect(revoked.stdout).toContain(`Revoked ${id}`);
      let status = 200;
      for (let attempt = 0; attempt < 30 && status !== 401; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } }))
          .status;
      }
      expect(status).toBe(401);
    } finally {
      server.kill("SIGTERM");
      await waitForExit(server);
    }

    const again = await run(["keys", "revoke", id], env);
    expect(again.code, again.text).toBe(0);
    expect(again.stdout).toMatch(/already revoked/);
    const listedJson = await run(["keys", "list", "--json"], env);
    const rows = JSON.parse(listedJson.stdout) as {
      id: string;
      revoked_at: number | null;
      last_used_at: number | null;
    }[];
    expect(rows.find((row) => row.id === id)).toMatchObject({
      revoked_at: expect.any(Number),
      last_used_at: expect.any(Number),
    });
    expect(listedJson.stdout).not.toContain(key);
  });

  it("refuses unknown scopes, bad projects and unknown ids", { timeout: 90_000 }, async () => {
    const env = { FERRY_DATA_DIR: tempDataDir() };
    const badScope = await run(
      ["keys", "create", "--project", "alpha", "--scopes", "everything"],
      env,
    );
    expect(badScope.code).toBe(2);
    expect(badScope.text).toMatch(
      /--scopes: unknown scope 'everything'; known scopes: responses:read/,
    );
    const badProject = await run(["keys", "create", "--project", "no way"], env);
    expect(badProject.code).toBe(2);
    expect(badProject.text).toMatch(/not a valid project/);
    const unknown = await run(["keys", "revoke", "key_nope"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.text).toMatch(/no API key with id 'key_nope'/);
    const empty = await run(["keys", "list"], env);
    expect(empty.stdout).toMatch(/No API keys/);
  });
});
