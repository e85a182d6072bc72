import type { Backend } from "./backend.js";
import { contextTokensFor } from "./call-bounds.js";
import type { Limiter } from "./limiter.js";
import type { Reachability } from "./reachability.js";

/**
 * Maps a public model name to the backend that serves it. A route serves a list of names, or
 * every name with "*"; the first route that matches wins, so specific routes go before a
 * catch-all. An alias maps the public name to the upstream's own name.
 */
export interface BackendRoute {
  /** Already wrapped by its limiter: every call holds a concurrency slot. */
  readonly backend: Backend;
  readonly limiter: Limiter;
  readonly reachability: Reachability;
  /** "mock", "openai" or "openai-responses", for /health. */
  readonly type: string;
  /** Model names served, or ["*"]. */
  readonly models: readonly string[];
  /** Public name -> upstream name. */
  readonly aliases?: Readonly<Record<string, string>>;
  /** Names to list on GET /v1/models when `models` is a wildcard. */
  readonly advertisedModels?: readonly string[];
  /** Public model name (or "*") -> context window in tokens. */
  readonly contextTokens?: Readonly<Record<string, number>>;
  /** Closes the backend under the wrappers (its upstream connections); see Backend.close. */
  readonly close?: () => Promise<void>;
}

export interface ResolvedModel {
  readonly backend: Backend;
  /** The name to send upstream. */
  readonly upstreamModel: string;
  /** The model's context window in tokens: what one request (history included) may hold. */
  readonly contextTokens: number;
}

export interface ModelInfo {
  readonly id: string;
  readonly ownedBy: string;
}

export interface Router {
  /** The backend for `model`, or null when no route serves it. */
  resolve(model: string): ResolvedModel | null;
  listModels(): readonly ModelInfo[];
  /** The backend named `name` (work queued for it names it), or null if it is not configured. */
  backendByName(name: string): Backend | null;
  routes(): readonly BackendRoute[];
  /** Closes every route's backend, at shutdown, once no call is running or coming. */
  close(): Promise<void>;
}

export function createRouter(routes: readonly BackendRoute[]): Router {
  return {
    resolve(model) {
      for (const route of routes) {
        // Own keys only: a model named "constructor" or "__proto__" is a name, not a property.
        const alias =
          route.aliases !== undefined && Object.hasOwn(route.aliases, model)
            ? route.aliases[model]
            : undefined;
        const contextTokens = contextTokensFor(route.contextTokens, model);
        if (alias !== undefined) {
          return { backend: route.backend, upstreamModel: alias, contextTokens };
        }
        if (route.models.includes("*") || route.models.includes(model)) {
          return { backend: route.backend, upstreamModel: model, contextTokens };
        }
      }
      return null;
    },
    listModels() {
      const seen = new Map<string, ModelInfo>();
      for (const route of routes) {
        const names = [
          ...route.models.filter((name) => name !== "*"),
          ...Object.keys(route.aliases ?? {}),
          ...(route.models.includes("*") ? (route.advertisedModels ?? []) : []),
        ];
        for (const id of names) {
          if (!seen.has(id)) {
            seen.set(id, { id, ownedBy: route.backend.name });
          }
        }
      }
      return [...seen.values()];
    },
    backendByName(name) {
      return routes.find((route) => route.backend.name === name)?.backend ?? null;
    },
    routes: () => routes,
    async close() {
      await Promise.all(routes.map((route) => route.close?.()));
    },
  };
}

/** The names the mock lists on GET /v1/models; it answers any other name too. */
export const MOCK_ADVERTISED_MODELS = [
  "gpt-4o-mini",
  "gpt-4o",
  "gpt-4.1",
  "gpt-4.1-mini",
  "gpt-4.1-nano",
  "gpt-5",
  "gpt-5-mini",
  "o4-mini",
  "text-embedding-3-small",
  "text-embedding-3-large",
  "text-embedding-ada-002",
] as const;
