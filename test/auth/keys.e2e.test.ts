import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import OpenAI, { toFile } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { parseApiKeysVariable } from "../../src/config.js";
import { systemClock } from "../../src/lib/clock.js";
import { createApiKeysService } from "../../src/services/api-keys.js";
import { createApiKeyStore } from "../../src/store/api-keys.js";
import { openDatabase } from "../../src/store/db.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const ALPHA = "sk-e2e-alpha-all-0123456789";
const ALPHA_READER = "sk-e2e-alpha-reader-0123456789";
const BETA = "sk-e2e-beta-all-0123456789";
const ENV_KEYS = `${ALPHA}@alpha,${ALPHA_READER}@alpha=responses:read,${BETA}@beta`;

const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    await s.close({ removeData: true });
  }
});

async function start(config: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(config);
  servers.push(s);
  return s;
}

function client(s: TestServer, apiKey: string): OpenAI {
  return new OpenAI({ baseURL: `${s.url}/v1`, apiKey, maxRetries: 0 });
}

/** Every file under a directory, as one string of bytes. */
function bytesUnder(dir: string): string {
  return readdirSync(dir, { recursive: true })
    .map((name) => path.join(dir, String(name)))
    .filter((file) => statSync(file).isFile())
    .map((file) => readFileSync(file).toString("latin1"))
    .join("\n");
}

describe("the official SDK against a keyed server", () => {
  it("works with a valid key, and raises AuthenticationError and PermissionDeniedError", async () => {
    const s = await start({ config: { apiKeys: parseApiKeysVariable(ENV_KEYS) } });
    const alpha = client(s, ALPHA);
    const response = await alpha.responses.create({ model: "gpt-4o-mini", input: "hello" });
    expect(response.status).toBe("completed");
    expect((await alpha.models.list()).data.length).toBeGreaterThan(0);

    const wrong = client(s, "sk-ferry-not-a-key-anyone-was-ever-given-0000");
    const unauthenticated = await wrong.models.list().catch((err: unknown) => err);
    expect(unauthenticated).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(unauthenticated).toMatchObject({ status: 401, code: "invalid_api_key" });

    const reader = client(s, ALPHA_READER);
    expect((await reader.responses.retrieve(response.id)).id).toBe(response.id);
    const forbidden = await reader.responses
      .create({ model: "gpt-4o-mini", input: "hi" })
      .catch((err: unknown) => err);
    expect(forbidden).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(forbidden).toMatchObject({ status: 403, code: "insufficient_scope" });
    expect((forbidden as Error).message).toContain("'responses:write'");
  });

  it("keeps projects apart: another project's ids are NotFoundError", async () => {
    const s = await start({ config: { apiKeys: parseApiKeysVariable(ENV_KEYS) } });
    const alpha = client(s, ALPHA);
    const beta = client(s, BETA);
    const file = await alpha.files.create({
      file: await toFile(Buffer.from("private\n"), "notes.txt"),
      purpose: "user_data",
    });
    const response = await alpha.responses.create({ model: "gpt-4o-mini", input: "hello" });
    await expect(beta.files.retrieve(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(beta.files.content(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(beta.responses.retrieve(response.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const betaFiles = await beta.files.list();
    expect(betaFiles.data).toEqual([]);
    expect((await alpha.files.retrieve(file.id)).id).toBe(file.id);
  });

  it("raises RateLimitError past the per-key limit, with OpenAI's headers", async () => {
    const s = await start({
      config: { apiKeys: parseApiKeysVariable(ENV_KEYS), limits: { requestsPerMinute: 2 } },
    });
    const alpha = client(s, ALPHA);
    const { response } = await alpha.models.list().withResponse();
    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("2");
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("1");
    expect(response.headers.get("x-ratelimit-reset-requests")).toBe("30s");
    await alpha.models.list();
    const limited = await alpha.models.list().catch((err: unknown) => err);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited).toMatchObject({ status: 429, code: "rate_limit_exceeded", type: "requests" });
    expect((limited as InstanceType<typeof OpenAI.RateLimitError>).headers.get("retry-after")).toBe(
      "30",
    );
    // Another key is not held back.
    await client(s, BETA).models.list();
  });

  it("accepts a key created in the database while it runs, and stores no key anywhere", async () => {
    const s = await start({ config: { apiKeys: parseApiKeysVariable(ENV_KEYS) } });
    const db = openDatabase(path.join(s.dataDir, "ferry.db"));
    const { key } = createApiKeysService({
      store: createApiKeyStore(db),
      clock: systemClock,
    }).create({ projectId: "gamma", name: "late" });
    db.$client.close();
    const gamma = client(s, key);
    const response = await gamma.responses.create({ model: "gpt-4o-mini", input: "hello" });
    await expect(client(s, ALPHA).responses.retrieve(response.id)).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    await s.server.close();
    const bytes = bytesUnder(s.dataDir);
    for (const secret of [ALPHA, ALPHA_READER, BETA, key]) {
      expect(bytes.includes(secret), "a key in the data dir").toBe(false);
    }
    expect(bytes.includes(key.slice(0, 13))).toBe(true);
  });
});
