import { createHash, randomBytes } from "node:crypto";

/**
 * API keys as clients and operators see them: the scopes a key can carry, the key format, and
 * the one-way hash that is all ferry ever stores. Shared by the config (FERRY_API_KEYS), the
 * store, the HTTP layer and the `ferry keys` CLI.
 */

export const API_KEY_SCOPES = [
  "responses:read",
  "responses:write",
  "batches:read",
  "batches:write",
  "files:read",
  "files:write",
  "streams:read",
  "streams:write",
  "webhooks:read",
  "webhooks:write",
  "admin",
] as const;

export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/**
 * What a key gets when no scopes are asked for: every resource scope. `admin` is left out on
 * purpose: today it grants nothing more, but it is the scope that would one day manage keys over
 * HTTP, so it must be asked for by name.
 */
export const DEFAULT_API_KEY_SCOPES: readonly ApiKeyScope[] = API_KEY_SCOPES.filter(
  (scope) => scope !== "admin",
);

export function isApiKeyScope(value: string): value is ApiKeyScope {
  return (API_KEY_SCOPES as readonly string[]).includes(value);
}

/** `admin` implies every scope. */
export function grantsScope(scopes: readonly ApiKeyScope[], needed: ApiKeyScope): boolean {
  return scopes.includes(needed) || scopes.includes("admin");
}

/**
 * "a,b" or "a+b" -> the scopes, deduplicated, in the order given. Throws an Error whose message
 * names the unknown scope and lists the known ones.
 */
export function parseScopeList(text: string, separator: "," | "+"): ApiKeyScope[] {
  const names = text.split(separator).map((name) => name.trim());
  if (names.every((name) => name === "")) {
    throw new Error(`no scopes given; known scopes: ${API_KEY_SCOPES.join(", ")}`);
  }
  const scopes: ApiKeyScope[] = [];
  for (const name of names) {
    if (name === "") {
      throw new Error(`empty scope name in '${text}'`);
    }
    if (!isApiKeyScope(name)) {
      throw new Error(`unknown scope '${name}'; known scopes: ${API_KEY_SCOPES.join(", ")}`);
    }
    if (!scopes.includes(name)) {
      scopes.push(name);
    }
  }
  return scopes;
}

/** A project (tenant) id: what FERRY_API_KEYS and `ferry keys create --project` accept. */
export const PROJECT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const API_KEY_PREFIX = "sk-ferry-";

/** Random characters shown after `sk-ferry-` in a key's non-secret display prefix. */
const DISPLAY_RANDOM_CHARS = 4;

/** `sk-ferry-` + 43 url-safe characters: 32 random bytes (256 bits), so guessing is hopeless. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString("base64url");
}

/**
 * SHA-256 of the whole key, hex. A plain fast hash is enough because ferry's keys are long
 * random secrets, not passwords: there is nothing to brute-force from the hash, and a fast,
 * deterministic hash is what lets each request find its key by an index lookup.
 */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** `sk-ferry-abcd`: enough to tell keys apart in `ferry keys list`, useless to an attacker. */
export function displayPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + DISPLAY_RANDOM_CHARS);
}

/**
 * A key as it may appear in an error message or a log line, like OpenAI's
 * "Incorrect API key provided: sk-proj-***...abcd": the first 7 and last 4 characters of a long
 * key; a short one is starred out after its first 3 (or fewer) so it is never shown whole.
 */
export function maskApiKey(key: string): string {
  if (key.length >= 20) {
    return `${key.slice(0, 7)}${"*".repeat(Math.min(key.length - 11, 36))}${key.slice(-4)}`;
  }
  return `${key.slice(0, Math.min(3, Math.floor(key.length / 3)))}****`;
}
