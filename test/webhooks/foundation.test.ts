import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai7";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/lib/api-error.js";
import {
  allowListOf,
  checkOutboundUrl,
  isAddressAllowed,
} from "../../src/webhooks/outbound-url.js";
import { createSecretBox, loadSecretsKey } from "../../src/webhooks/secret-box.js";
import { newSigningSecret, secretHint, signWebhook } from "../../src/webhooks/signature.js";

const client = new OpenAI({ apiKey: "unused", baseURL: "http://127.0.0.1:9/v1" });

describe("webhook signatures", () => {
  it("are accepted by the official SDK's unwrap, and a tampered body or old timestamp is not", async () => {
    const secret = newSigningSecret();
    const body = JSON.stringify({
      id: "evt_1",
      object: "event",
      created_at: 1,
      type: "batch.completed",
      data: { id: "batch_1" },
    });
    const now = Math.floor(Date.now() / 1000);
    const headers = signWebhook({ id: "wh_1", timestampSeconds: now, body, secrets: [secret] });
    const event = await client.webhooks.unwrap(body, headers, secret);
    expect(event.type).toBe("batch.completed");
    await expect(client.webhooks.unwrap(`${body} `, headers, secret)).rejects.toThrow(/signature/);
    const old = signWebhook({ id: "wh_1", timestampSeconds: now - 600, body, secrets: [secret] });
    await expect(client.webhooks.unwrap(body, old, secret)).rejects.toThrow(/too old/);
    await expect(client.webhooks.unwrap(body, headers, newSigningSecret())).rejects.toThrow(
      /signature/,
    );
  });

  it("sign with every secret given, so the old one still verifies after a rotation", async () => {
    const [oldSecret, newSecret] = [newSigningSecret(), newSigningSecret()];
    const body = "{}";
    const headers = signWebhook({
      id: "wh_2",
      timestampSeconds: Math.floor(Date.now() / 1000),
      body,
      secrets: [newSecret, oldSecret],
    });
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    await client.webhooks.verifySignature(body, headers, oldSecret);
    await client.webhooks.verifySignature(body, headers, newSecret);
  });

  it("hint at a secret without giving it away", () => {
    const secret = newSigningSecret();
    const hint = secretHint(secret);
    expect(hint.startsWith("whsec_")).toBe(true);
    expect(hint.length).toBeLessThan(20);
    expect(secret.includes(hint.slice(6, 10))).toBe(true);
  });
});

describe("the secret box", () => {
  it("opens what it sealed, and refuses a changed value or another key", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ferry-secrets-"));
    const key = loadSecretsKey({ dataDir: dir });
    expect(statSync(path.join(dir, "secrets.key")).mode & 0o777).toBe(0o600);
    expect(loadSecretsKey({ dataDir: dir }).equals(key)).toBe(true);
    const box = createSecretBox(key);
    const sealed = box.seal("whsec_abc");
    expect(sealed).not.toContain("whsec_abc");
    expect(box.open(sealed)).toBe("whsec_abc");
    const flipped = `${sealed.slice(0, -3)}${sealed.slice(-3) === "AAA" ? "BBB" : "AAA"}`;
    expect(() => box.open(flipped)).toThrow();
    const other = createSecretBox(loadSecretsKey({ dataDir: dir, envKey: "a".repeat(64) }));
    expect(() => other.open(sealed)).toThrow();
  });

  it("names the variable or file when the key is unusable", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ferry-secrets-"));
    expect(() => loadSecretsKey({ dataDir: dir, envKey: "short" })).toThrow(/FERRY_SECRETS_KEY/);
    writeFileSync(path.join(dir, "secrets.key"), "nonsense");
    expect(() => loadSecretsKey({ dataDir: dir })).toThrow(/secrets\.key/);
    expect(readFileSync(path.join(dir, "secrets.key"), "utf8")).toBe("nonsense");
  });
});

describe("outbound URLs", () => {
  const noDns = {
    allowNetworks: [],
    lookup: async (host: string) =>
      host === "internal.example"
        ? ["10.0.0.5"]
        : host === "public.example"
          ? ["93.184.215.14"]
          : [],
  };

  it.each([
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/hook",
    "http://127.0.0.1:8080/",
    "http://[::1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[fd00:ec2::254]/",
    "http://internal.example/hook",
    "http://0.0.0.0/",
  ])("refuses %s with a 400 naming the field", async (url) => {
    const error = await checkOutboundUrl(url, noDns, "callback_url").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect((error as ApiError).options.param).toBe("callback_url");
  });

  it.each([
    "ftp://public.example/",
    "not a url",
    "http://user:pw@public.example/",
    "http://nowhere.example/",
  ])("refuses %s", async (url) => {
    await expect(checkOutboundUrl(url, noDns, "url")).rejects.toBeInstanceOf(ApiError);
  });

  it("accepts a public host, and a private one the operator allowed", async () => {
    expect((await checkOutboundUrl("https://public.example/x", noDns, "url")).host).toBe(
      "public.example",
    );
    const allowed = { ...noDns, allowNetworks: ["127.0.0.0/8", "::1"] };
    await checkOutboundUrl("http://127.0.0.1:9/x", allowed, "url");
    await checkOutboundUrl("http://[::1]:9/x", allowed, "url");
    expect(isAddressAllowed("10.0.0.1", allowListOf(["127.0.0.0/8"]))).toBe(false);
    expect(() => allowListOf(["nonsense"])).toThrow(/CIDR/);
  });
});
