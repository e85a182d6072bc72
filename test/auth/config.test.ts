import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseApiKeysVariable } from "../../src/config.js";
import {
  DEFAULT_API_KEY_SCOPES,
  displayPrefix,
  generateApiKey,
  hashApiKey,
  maskApiKey,
} from "../../src/contract/api-keys.js";
import { decideAuthMode, isLoopbackHost } from "../../src/services/api-keys.js";

function configError(run: () => unknown): ConfigError {
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

describe("FERRY_API_KEYS", () => {
  it("reads KEY@PROJECT and KEY@PROJECT=scope+scope entries, keeping only hashes", () => {
    const keys = parseApiKeysVariable("sk-a1@alpha,sk-a2@alpha=responses:read,sk-b1@beta");
    expect(keys).toEqual([
      {
        keyHash: hashApiKey("sk-a1"),
        maskedKey: expect.any(String),
        projectId: "alpha",
        scopes: DEFAULT_API_KEY_SCOPES,
      },
      {
        keyHash: hashApiKey("sk-a2"),
        maskedKey: expect.any(String),
        projectId: "alpha",
        scopes: ["responses:read"],
      },
      {
        keyHash: hashApiKey("sk-b1"),
        maskedKey: expect.any(String),
        projectId: "beta",
        scopes: DEFAULT_API_KEY_SCOPES,
      },
    ]);
    const config = loadConfig({ FERRY_API_KEYS: "sk-a1@alpha,sk-a2@alpha=responses:read" });
    expect(config.apiKeys).toHaveLength(2);
    expect(JSON.stringify(config)).not.toMatch(/sk-a1|sk-a2/);
  });

  it("accepts spaces around entries, an empty list and a trailing comma", () => {
    expect(
      parseApiKeysVariable(" sk-a1@alpha = batches:read + batches:write , ").map((key) => [
        key.projectId,
        key.scopes,
      ]),
    ).toEqual([["alpha", ["batches:read", "batches:write"]]]);
    expect(loadConfig({}).apiKeys).toEqual([]);
    expect(loadConfig({ FERRY_API_KEYS: "" }).apiKeys).toEqual([]);
  });

  it.each([
    ["no project", "sk-a1", /expected KEY@PROJECT/],
    ["an empty project", "sk-a1@", /is not a valid project/],
    ["a bad project", "sk-a1@al/pha", /'al\/pha' is not a valid project/],
    ["an empty key", "@alpha", /the key must be non-empty/],
    ["a key with a space", "sk a1@alpha", /no spaces/],
    [
      "an unknown scope",
      "sk-a1@alpha=responses:read+responses:admin",
      /unknown scope 'responses:admin'; known scopes: responses:read/,
    ],
    ["no scopes after =", "sk-a1@alpha=", /no scopes given/],
    ["a scope list with a hole", "sk-a1@alpha=responses:read++files:read", /empty scope name/],
    ["a key listed twice", "sk-a1@alpha,sk-a1@beta", /listed twice/],
  ])("refuses %s, naming FERRY_API_KEYS and the entry", (_label, value, message) => {
    const err = configError(() => loadConfig({ FERRY_API_KEYS: value }));
    expect(err.issues[0]?.variable).toBe("FERRY_API_KEYS");
    expect(err.issues[0]?.message).toMatch(/^entry \d+ \(/);
    expect(err.issues[0]?.message).toMatch(message);
  });

  it("reports every bad entry and never prints a key whole", () => {
    const secret = "sk-ferry-ThisIsALongSecretThatMustNotBePrinted";
    const err = configError(() =>
      loadConfig({ FERRY_API_KEYS: `${secret}@alpha=nope,sk-ok@beta,short@` }),
    );
    expect(err.issues.map((issue) => issue.message)).toEqual([
      expect.stringMatching(/^entry 1 \(sk-ferr\*+nted\): unknown scope 'nope'/),
      expect.stringMatching(/^entry 3 \(s\*\*\*\*\): /),
    ]);
    expect(err.message).not.toContain(secret);
  });
});

describe("FERRY_ALLOW_OPEN and the limits", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  function configFile(json: unknown): string {
    const dir = mkdtempSync(path.join(tmpdir(), "ferry-auth-config-"));
    dirs.push(dir);
    const file = path.join(dir, "ferry.json");
    writeFileSync(file, JSON.stringify(json));
    return file;
  }

  it("reads FERRY_ALLOW_OPEN as a boolean, off by default", () => {
    expect(loadConfig({}).allowOpen).toBe(false);
    expect(loadConfig({ FERRY_ALLOW_OPEN: "1" }).allowOpen).toBe(true);
    expect(loadConfig({ FERRY_ALLOW_OPEN: "true" }).allowOpen).toBe(true);
    expect(loadConfig({ FERRY_ALLOW_OPEN: "0" }).allowOpen).toBe(false);
    expect(configError(() => loadConfig({ FERRY_ALLOW_OPEN: "maybe" })).issues[0]?.variable).toBe(
      "FERRY_ALLOW_OPEN",
    );
  });

  it("defaults to no rate limit and 100 long-polls per key, and reads both from FERRY_CONFIG", () => {
    expect(loadConfig({}).limits).toMatchObject({
      requestsPerMinute: 0,
      maxConcurrentLongPolls: 100,
    });
    const file = configFile({ limits: { requests_per_minute: 600, max_concurrent_long_polls: 5 } });
    expect(loadConfig({ FERRY_CONFIG: file }).limits).toEqual({
      maxBodyBytes: 32 * 1024 * 1024,
      requestsPerMinute: 600,
      maxConcurrentLongPolls: 5,
    });
    const bad = configFile({ limits: { requests_per_minute: -1 } });
    expect(configError(() => loadConfig({ FERRY_CONFIG: bad })).issues[0]?.variable).toBe(
      "FERRY_CONFIG:limits.requests_per_minute",
    );
  });
});

describe("modes", () => {
  it.each([
    ["127.0.0.1", true],
    ["127.1.2.3", true],
    ["localhost", true],
    ["LOCALHOST", true],
    ["::1", true],
    ["[::1]", true],
    ["::ffff:127.0.0.1", true],
    ["0.0.0.0", false],
    ["::", false],
    ["192.168.1.10", false],
    ["127.0.0.1.example.com", false],
    ["128.0.0.1", false],
    ["example.com", false],
  ])("isLoopbackHost(%s) is %s", (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });

  it("starts open only without keys and on loopback (or when allowed), keyed with any key", () => {
    const none = { apiKeys: [] };
    const some = { apiKeys: parseApiKeysVariable("sk-a@alpha") };
    expect(decideAuthMode({ ...none, host: "127.0.0.1", allowOpen: false }, 0)).toEqual({
      kind: "open",
      isLoopback: true,
    });
    expect(decideAuthMode({ ...none, host: "0.0.0.0", allowOpen: false }, 0)).toEqual({
      kind: "refused",
    });
    expect(decideAuthMode({ ...none, host: "0.0.0.0", allowOpen: true }, 0)).toEqual({
      kind: "open",
      isLoopback: false,
    });
    expect(decideAuthMode({ ...none, host: "0.0.0.0", allowOpen: false }, 2)).toEqual({
      kind: "keyed",
      configuredKeys: 0,
      storedKeys: 2,
    });
    expect(decideAuthMode({ ...some, host: "127.0.0.1", allowOpen: true }, 0)).toEqual({
      kind: "keyed",
      configuredKeys: 1,
      storedKeys: 0,
    });
  });
});

describe("the key format", () => {
  it("is sk-ferry- and 43 url-safe characters, shown as a short prefix or masked", () => {
    const key = generateApiKey();
    expect(key).toMatch(/^sk-ferry-[A-Za-z0-9_-]{43}$/);
    expect(generateApiKey()).not.toBe(key);
    expect(displayPrefix(key)).toBe(key.slice(0, 13));
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    const masked = maskApiKey(key);
    expect(masked.startsWith("sk-ferr")).toBe(true);
    expect(masked.endsWith(key.slice(-4))).toBe(true);
    expect(masked).not.toContain(key.slice(7, -4));
    for (const short of ["a", "sk-a1", "sk-a1b2c3d4e5f6g7"]) {
      expect(maskApiKey(short)).not.toContain(short);
    }
  });
});
