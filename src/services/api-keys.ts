import { randomBytes } from "node:crypto";
import { isIPv4 } from "node:net";
import type { Config, ConfiguredApiKey } from "../config.js";
import {
  type ApiKeyScope,
  DEFAULT_API_KEY_SCOPES,
  displayPrefix,
  generateApiKey,
  hashApiKey,
  isApiKeyScope,
  PROJECT_ID_PATTERN,
} from "../contract/api-keys.js";
import { ApiError } from "../lib/api-error.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import { coerceError } from "../lib/coerce-error.js";
import { isStorageFullError } from "../lib/storage-full.js";
import type { ApiKeyStore } from "../store/api-keys.js";
import type { ApiKeyRow } from "../store/schema.js";

/** The project every request acts for in open mode (no keys configured, loopback only). */
export const DEFAULT_PROJECT_ID = "default";

/** Who a request acts for, and with what rights. */
export interface Identity {
  readonly projectId: string;
  /** The stored key's id; null for a FERRY_API_KEYS key and in open mode. */
  readonly keyId: string | null;
  readonly name: string | null;
  /** `sk-ferry-abcd` for a stored key, the masked key for a FERRY_API_KEYS one, null when open. */
  readonly keyPrefix: string | null;
  readonly scopes: readonly ApiKeyScope[];
  /** What per-key limits count against: one value per key; null in open mode. */
  readonly limitKey: string | null;
}

export const OPEN_IDENTITY: Identity = Object.freeze({
  projectId: DEFAULT_PROJECT_ID,
  keyId: null,
  name: null,
  keyPrefix: null,
  scopes: Object.freeze(["admin"] as const),
  limitKey: null,
});

/** A stored key as `ferry keys list` shows it: everything but the secret, which is not kept. */
export interface ApiKeyInfo {
  readonly id: string;
  readonly projectId: string;
  readonly name: string | null;
  readonly keyPrefix: string;
  readonly scopes: readonly ApiKeyScope[];
  /** Unix seconds, like every stored timestamp. */
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
}

export interface ApiKeysServiceDeps {
  readonly store: ApiKeyStore;
  readonly clock: Clock;
  /** FERRY_API_KEYS, hashed by the config. */
  readonly configuredKeys?: readonly ConfiguredApiKey[];
  /** Whether open mode may be used at all (see isOpenModeAllowed). The CLI leaves it false. */
  readonly openModeAllowed?: boolean;
  /** How long a stored key found by its hash is trusted before it is read again. */
  readonly cacheTtlMs?: number;
}

export type ApiKeysService = ReturnType<typeof createApiKeysService>;

// A key revoked from another process (the CLI) stops working within this time.
const DEFAULT_CACHE_TTL_MS = 1_000;
// Bounds memory however many distinct keys are used; the oldest entry makes room.
const MAX_CACHED_KEYS = 10_000;
// last_used_at is a hint for `ferry keys list`: written at most this often per key, so a busy
// key costs one write a minute, not one per request.
const TOUCH_INTERVAL_SECONDS = 60;

/**
 * Key management (create, list, revoke) and the per-request lookup.
 *
 * Open mode: with no keys configured, on a loopback HOST (or with FERRY_ALLOW_OPEN), every
 * request acts for the default project. Whether keys exist is checked on every request while
 * open (one indexed read), so a key created with the CLI while the server runs ends open mode at
 * once. The end is one-way: once a key has been seen, the server stays keyed until restarted,
 * even if every key is then revoked. Revoking keys must never open a server up.
 */
export function createApiKeysService(deps: ApiKeysServiceDeps) {
  const { store, clock } = deps;
  const cacheTtlMs = deps.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
  const configured = new Map<string, Identity>();
  for (const key of deps.configuredKeys ?? []) {
    configured.set(key.keyHash, {
      projectId: key.projectId,
      keyId: null,
      name: null,
      keyPrefix: key.maskedKey,
      scopes: key.scopes,
      limitKey: `env:${key.keyHash.slice(0, 16)}`,
    });
  }
  let isKeyed = deps.openModeAllowed !== true || configured.size > 0;
  let openCheckedAtMs = Number.NEGATIVE_INFINITY;
  const cache = new Map<string, { identity: Identity; loadedAtMs: number }>();

  /** last_used_at is a hint: on a full disk it is skipped rather than fail a request that reads. */
  function touch(id: string, nowSeconds: number): void {
    try {
      store.touch(id, nowSeconds);
    } catch (thrown) {
      const err = coerceError(thrown);
      if (!isStorageFullError(err)) {
        throw err;
      }
    }
  }

  function loadStored(keyHash: string): Identity | null {
    const row = store.findActiveByHash(keyHash);
    if (row === undefined) {
      return null;
    }
    const now = unixSeconds(clock);
    if (row.lastUsedAt === null || now - row.lastUsedAt >= TOUCH_INTERVAL_SECONDS) {
      touch(row.id, now);
    }
    return {
      projectId: row.projectId,
      keyId: row.id,
      name: row.name,
      keyPrefix: row.keyPrefix,
      scopes: storedScopes(row),
      limitKey: row.id,
    };
  }

  return {
    /** True while the server runs open: no key is needed and every request is OPEN_IDENTITY. */
    isOpen(): boolean {
      // Asked on every request: the database is looked at once per cache period at most, so a
      // key made by the CLI in another process ends open mode within that period (a key made
      // here ends it at once, in create()).
      const nowMs = clock.nowMs();
      if (!isKeyed && nowMs - openCheckedAtMs >= cacheTtlMs) {
        openCheckedAtMs = nowMs;
        isKeyed = store.hasActive();
      }
      return !isKeyed;
    },

    /** The identity for a key as a client sent it, or null for an unknown or revoked key. */
    resolve(key: string): Identity | null {
      const keyHash = hashApiKey(key);
      const fromConfig = configured.get(keyHash);
      if (fromConfig !== undefined) {
        return fromConfig;
      }
      const nowMs = clock.nowMs();
      const cached = cache.get(keyHash);
      if (cached !== undefined && nowMs - cached.loadedAtMs < cacheTtlMs) {
        return cached.identity;
      }
      cache.delete(keyHash);
      // Misses are not cached: a flood of made-up keys must not push real ones out, and each
      // costs one lookup in a unique index.
      const identity = loadStored(keyHash);
      if (identity !== null) {
        if (cache.size >= MAX_CACHED_KEYS) {
          const oldest = cache.keys().next();
          if (oldest.done !== true) {
            cache.delete(oldest.value);
          }
        }
        cache.set(keyHash, { identity, loadedAtMs: nowMs });
      }
      return identity;
    },

    /**
     * Creates a key and returns it with its stored info. The key is in this return value and
     * nowhere else: only its hash is stored.
     */
    create(input: { projectId: string; name?: string | null; scopes?: readonly ApiKeyScope[] }): {
      key: string;
      info: ApiKeyInfo;
    } {
      if (!PROJECT_ID_PATTERN.test(input.projectId)) {
        throw ApiError.invalid(
          "project",
          `'${input.projectId}' is not a valid project: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit.`,
        );
      }
      const scopes = input.scopes ?? DEFAULT_API_KEY_SCOPES;
      if (scopes.length === 0) {
        throw ApiError.invalid("scopes", "Give at least one scope.");
      }
      const key = generateApiKey();
      const id = `key_${randomBytes(12).toString("hex")}`;
      store.insert({
        id,
        projectId: input.projectId,
        name: input.name ?? null,
        scopes: [...scopes],
        keyHash: hashApiKey(key),
        keyPrefix: displayPrefix(key),
        createdAt: unixSeconds(clock),
      });
      const row = store.findById(id);
      if (row === undefined) {
        throw new Error(`API key ${id} was not stored`);
      }
      isKeyed = true;
      return { key, info: toApiKeyInfo(row) };
    },

    list(): ApiKeyInfo[] {
      return store.list().map(toApiKeyInfo);
    },

    /** Revokes a key (a no-op if it already is); undefined for an unknown id. */
    revoke(id: string): ApiKeyInfo | undefined {
      const row = store.revoke(id, unixSeconds(clock));
      if (row !== undefined) {
        // Revoked in this process: effective now, not after the cache entry ages out.
        cache.delete(row.keyHash);
      }
      return row === undefined ? undefined : toApiKeyInfo(row);
    },
  };
}

/**
 * Open mode is possible only with no FERRY_API_KEYS and a loopback HOST, or when the operator
 * says so with FERRY_ALLOW_OPEN=1. (Keys in the database end it too, but those are checked at
 * run time.)
 */
export function isOpenModeAllowed(config: Pick<Config, "host" | "allowOpen" | "apiKeys">): boolean {
  return config.apiKeys.length === 0 && (isLoopbackHost(config.host) || config.allowOpen);
}

/** 127.0.0.0/8, ::1 (also as [::1] or ::ffff:127.x.x.x) and localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1");
  if (bare === "localhost" || bare === "::1" || bare === "0:0:0:0:0:0:0:1") {
    return true;
  }
  const v4 = bare.startsWith("::ffff:") ? bare.slice("::ffff:".length) : bare;
  return isIPv4(v4) && v4.startsWith("127.");
}

export type AuthMode =
  | { readonly kind: "keyed"; readonly configuredKeys: number; readonly storedKeys: number }
  | { readonly kind: "open"; readonly isLoopback: boolean }
  | { readonly kind: "refused" };

/** How `ferry serve` starts, given the config and the number of non-revoked stored keys. */
export function decideAuthMode(
  config: Pick<Config, "host" | "allowOpen" | "apiKeys">,
  storedKeys: number,
): AuthMode {
  if (config.apiKeys.length > 0 || storedKeys > 0) {
    return { kind: "keyed", configuredKeys: config.apiKeys.length, storedKeys };
  }
  if (isOpenModeAllowed(config)) {
    return { kind: "open", isLoopback: isLoopbackHost(config.host) };
  }
  return { kind: "refused" };
}

function toApiKeyInfo(row: ApiKeyRow): ApiKeyInfo {
  return {
    id: row.id,
    projectId: row.projectId,
    name: row.name,
    keyPrefix: row.keyPrefix,
    scopes: storedScopes(row),
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  };
}

/** Scopes as stored; a name ferry does not know grants nothing. */
function storedScopes(row: ApiKeyRow): ApiKeyScope[] {
  return row.scopes.filter(isApiKeyScope);
}
