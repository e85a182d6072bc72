import { ConfigError, type ConfiguredWebhookEndpoint } from "../config.js";
import type {
  CreateWebhookEndpoint,
  UpdateWebhookEndpoint,
} from "../contract/webhook-endpoints.js";
import { ApiError } from "../lib/api-error.js";
import type { Clock } from "../lib/clock.js";
import { coerceError } from "../lib/coerce-error.js";
import { newId } from "../lib/ids.js";
import type { Logger } from "../lib/logger.js";
import { type Page, toPage } from "../services/paginate.js";
import type { WebhookEndpointRow } from "../store/schema.js";
import type { WebhookEndpointStore } from "../store/webhook-endpoints.js";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "./event-types.js";
import { checkOutboundUrl, type OutboundPolicy } from "./outbound-url.js";
import type { DeliveryDirectory, EndpointTarget } from "./outbox.js";
import type { SecretBox } from "./secret-box.js";
import type { DeliverySender } from "./send-delivery.js";
import { newSigningSecret, secretHint, signWebhook } from "./signature.js";

/**
 * Webhook endpoints: `/v1/webhook_endpoints` as the openai 7.x SDK manages them, `ferry webhooks`,
 * and the config file's `webhooks.endpoints` (reconciled at start-up), over one store. Also the
 * endpoint half of the delivery directory: which endpoints an event goes to (cached, since the
 * outbox asks inside every background response's and batch's final transaction), their signing
 * secrets, and the failure bookkeeping that disables an endpoint that keeps failing.
 *
 * The signing secret is stored sealed (secret-box.ts) under a key kept outside the database, and
 * shown in the clear only when it is made: on create and on rotate.
 */

/** OpenAI's WebhookEndpoint, and two ferry fields saying whether ferry still sends to it. */
export interface WebhookEndpointObject {
  id: string;
  object: "webhook_endpoint";
  created_at: number;
  updated_at: number;
  name: string;
  url: string;
  event_types: string[];
  signing_secret_hint: string | null;
  /** ferry: when it stopped sending here because every delivery failed; null while enabled. */
  disabled_at: number | null;
  disabled_reason: string | null;
}

export type WebhookEndpointWithSecret = WebhookEndpointObject & { signing_secret: string };

export interface WebhookEndpointTestResult {
  object: "webhook_endpoint.test";
  webhook_endpoint_id: string;
  event_type: string;
  status_code: number;
  success: true;
}

export interface WebhookEndpoints {
  create(projectId: string, body: CreateWebhookEndpoint): Promise<WebhookEndpointWithSecret>;
  retrieve(projectId: string, id: string): WebhookEndpointObject;
  list(projectId: string, query: { after?: string; limit: number }): Page<WebhookEndpointObject>;
  update(
    projectId: string,
    id: string,
    body: UpdateWebhookEndpoint,
  ): Promise<WebhookEndpointObject>;
  delete(
    projectId: string,
    id: string,
  ): { id: string; object: "webhook_endpoint.deleted"; deleted: true };
  rotateSecret(
    projectId: string,
    id: string,
    options: { keepOldSecretFor24Hours: boolean },
  ): WebhookEndpointWithSecret;
  /** Sends one sample event now, signed like a real one, and says how the receiver answered. */
  test(
    projectId: string,
    id: string,
    eventType: WebhookEventType,
  ): Promise<WebhookEndpointTestResult>;
  eventTypes(): { object: "list"; data: string[] };
  /**
   * Makes the config file's endpoints exist as written (matched by project and name), and
   * removes config-made endpoints the file no longer has. Run once at start-up.
   */
  reconcileConfigured(configured: readonly ConfiguredWebhookEndpoint[]): Promise<void>;
  /** The endpoint half of the delivery directory. */
  readonly directory: Pick<
    DeliveryDirectory,
    "endpointsFor" | "endpointSecrets" | "recordEndpointOutcome"
  >;
}

export interface WebhookEndpointsDeps {
  readonly store: WebhookEndpointStore;
  /** Made on first use (secret-box.ts): reading an endpoint list needs no key. */
  readonly box: () => SecretBox;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly policy: OutboundPolicy;
  readonly sender: DeliverySender;
  readonly config: {
    readonly timeoutMs: number;
    readonly maxResponseBytes: number;
    readonly disableAfterSeconds: number;
  };
  /** How long the cached endpoint lists serve before they are read again (others may write). */
  readonly cacheMs?: number;
}

/** After a rotation that keeps the old secret, both sign for this long (OpenAI: 24 hours). */
const OLD_SECRET_SECONDS = 24 * 3600;
const DEFAULT_CACHE_MS = 1000;

export function createWebhookEndpoints(deps: WebhookEndpointsDeps): WebhookEndpoints {
  const { store, clock, logger, policy, sender, config } = deps;
  const cacheMs = deps.cacheMs ?? DEFAULT_CACHE_MS;
  const nowSeconds = () => Math.floor(clock.nowMs() / 1000);

  // Enabled endpoints by project and event type, and by id (for the lane, on every attempt).
  // Writes made here drop it at once; writes by another process (the CLI, a second server)
  // are seen within cacheMs.
  interface Cached {
    readonly byProject: Map<string, Map<string, EndpointTarget[]>>;
    readonly byId: Map<string, WebhookEndpointRow>;
  }
  let cached: Cached | null = null;
  let cachedAtMs = 0;
  const invalidate = () => {
    cached = null;
  };
  function enabledNow(): Cached {
    const nowMs = clock.nowMs();
    if (cached !== null && nowMs - cachedAtMs < cacheMs) {
      return cached;
    }
    const byProject = new Map<string, Map<string, EndpointTarget[]>>();
    const byId = new Map<string, WebhookEndpointRow>();
    for (const row of store.listEnabled()) {
      byId.set(row.id, row);
      let byType = byProject.get(row.projectId);
      if (byType === undefined) {
        byType = new Map();
        byProject.set(row.projectId, byType);
      }
      for (const type of row.eventTypes) {
        const list = byType.get(type) ?? [];
        list.push({ id: row.id, url: row.url });
        byType.set(type, list);
      }
    }
    cached = { byProject, byId };
    cachedAtMs = nowMs;
    return cached;
  }

  // Opening a sealed secret is cheap, but the lane asks on every attempt.
  const opened = new Map<string, string>();
  function open(sealed: string): string {
    let plain = opened.get(sealed);
    if (plain === undefined) {
      plain = deps.box().open(sealed);
      if (opened.size >= 1024) {
        opened.clear();
      }
      opened.set(sealed, plain);
    }
    return plain;
  }

  function findOrThrow(projectId: string, id: string): WebhookEndpointRow {
    const row = store.find(projectId, id);
    if (row === undefined) {
      throw ApiError.notFound(`No webhook endpoint found with id '${id}'.`);
    }
    return row;
  }

  function requireApiManaged(row: WebhookEndpointRow, action: string): void {
    if (row.source === "config") {
      throw new ApiError(
        400,
        `The webhook endpoint '${row.id}' comes from the server's config file (webhooks.endpoints); ${action} it there and restart ferry.`,
        { code: "endpoint_managed_by_config" },
      );
    }
  }

  function sealNewSecret(secret: string) {
    return { secretSealed: deps.box().seal(secret), secretHint: secretHint(secret) };
  }

  return {
    async create(projectId, body) {
      const url = await checkOutboundUrl(body.url, policy, "url");
      const secret = newSigningSecret();
      const now = nowSeconds();
      const row = {
        id: newId("webhookEndpoint"),
        projectId,
        name: body.name,
        url: url.href,
        eventTypes: body.event_types,
        ...sealNewSecret(secret),
        source: "api",
        createdAt: now,
        updatedAt: now,
      };
      store.insert(row);
      invalidate();
      return { ...toEndpointObject(findOrThrow(projectId, row.id)), signing_secret: secret };
    },

    retrieve(projectId, id) {
      return toEndpointObject(findOrThrow(projectId, id));
    },

    list(projectId, query) {
      let after: WebhookEndpointRow | undefined;
      if (query.after !== undefined) {
        after = store.find(projectId, query.after);
        if (after === undefined) {
          throw ApiError.invalid(
            "after",
            `No webhook endpoint found with id '${query.after}' to list after.`,
          );
        }
      }
      const rows = store.list(projectId, { after, limit: query.limit + 1 });
      return toPage(rows.slice(0, query.limit).map(toEndpointObject), rows.length > query.limit);
    },

    async update(projectId, id, body) {
      const row = findOrThrow(projectId, id);
      requireApiManaged(row, "change");
      const url =
        body.url === undefined ? row.url : (await checkOutboundUrl(body.url, policy, "url")).href;
      const name = body.name ?? row.name;
      const eventTypes = body.event_types ?? row.eventTypes;
      const changed =
        url !== row.url ||
        name !== row.name ||
        eventTypes.length !== row.eventTypes.length ||
        eventTypes.some((type, index) => type !== row.eventTypes[index]);
      if (!changed && row.disabledAt === null) {
        // OpenAI: an unchanged update does not advance updated_at.
        return toEndpointObject(row);
      }
      // Any update re-enables a disabled endpoint: whoever changed it meant it to be used.
      const updated = store.update(projectId, id, {
        url,
        name,
        eventTypes,
        updatedAt: changed ? nowSeconds() : row.updatedAt,
        disabledAt: null,
        disabledReason: null,
        consecutiveFailures: 0,
        failingSince: null,
      });
      invalidate();
      return toEndpointObject(updated ?? findOrThrow(projectId, id));
    },

    delete(projectId, id) {
      requireApiManaged(findOrThrow(projectId, id), "remove");
      store.delete(projectId, id);
      invalidate();
      // Its pending deliveries end cancelled when the lane reaches them (endpointSecrets: null).
      return { id, object: "webhook_endpoint.deleted", deleted: true };
    },

    rotateSecret(projectId, id, options) {
      const row = findOrThrow(projectId, id);
      requireApiManaged(row, "rotate the secret of");
      const secret = newSigningSecret();
      const now = nowSeconds();
      const updated = store.update(projectId, id, {
        ...sealNewSecret(secret),
        previousSecretSealed: options.keepOldSecretFor24Hours ? row.secretSealed : null,
        previousSecretExpiresAt: options.keepOldSecretFor24Hours ? now + OLD_SECRET_SECONDS : null,
        updatedAt: now,
      });
      return { ...toEndpointObject(updated ?? row), signing_secret: secret };
    },

    async test(projectId, id, eventType) {
      const row = findOrThrow(projectId, id);
      const now = nowSeconds();
      const body = JSON.stringify({
        id: newId("event"),
        object: "event",
        created_at: now,
        type: eventType,
        data: { id: sampleSubjectId(eventType) },
      });
      const result = await sender.send({
        url: row.url,
        body,
        headers: signWebhook({
          id: newId("webhookDelivery"),
          timestampSeconds: now,
          body,
          secrets: secretsOf(row, now),
        }),
        auth: null,
        timeoutMs: config.timeoutMs,
        maxResponseBytes: config.maxResponseBytes,
        policy,
      });
      if (result.statusCode === null) {
        throw new ApiError(
          400,
          `The test event could not be delivered to ${row.url}: ${result.error ?? "no answer"}.`,
          { code: "webhook_endpoint_unreachable" },
        );
      }
      return {
        object: "webhook_endpoint.test",
        webhook_endpoint_id: row.id,
        event_type: eventType,
        status_code: result.statusCode,
        success: true,
      };
    },

    eventTypes() {
      return { object: "list", data: [...WEBHOOK_EVENT_TYPES] };
    },

    async reconcileConfigured(configured) {
      const existing = store.listFromConfig();
      const kept = new Set<string>();
      for (const [index, endpoint] of configured.entries()) {
        const field = `webhooks.endpoints.${index}.url`;
        let url: string;
        try {
          url = (await checkOutboundUrl(endpoint.url, policy, field)).href;
        } catch (thrown) {
          // A config mistake, reported as the config's others are (ferry serve exits 2).
          throw new ConfigError([
            { variable: `FERRY_CONFIG:${field}`, message: coerceError(thrown).message },
          ]);
        }
        const now = nowSeconds();
        const match = existing.find(
          (row) => row.projectId === endpoint.projectId && row.name === endpoint.name,
        );
        const fields = { url, eventTypes: [...endpoint.eventTypes] };
        if (match === undefined) {
          const id = newId("webhookEndpoint");
          store.insert({
            id,
            projectId: endpoint.projectId,
            name: endpoint.name,
            ...fields,
            ...sealNewSecret(endpoint.secret),
            source: "config",
            createdAt: now,
            updatedAt: now,
          });
          kept.add(id);
          logger.info(
            { endpointId: id, project: endpoint.projectId, name: endpoint.name },
            "webhook endpoint created from the config file",
          );
          continue;
        }
        kept.add(match.id);
        const secretChanged = open(match.secretSealed) !== endpoint.secret;
        const changed =
          secretChanged ||
          match.url !== url ||
          JSON.stringify(match.eventTypes) !== JSON.stringify(fields.eventTypes);
        if (changed) {
          store.update(match.projectId, match.id, {
            ...fields,
            ...(secretChanged ? sealNewSecret(endpoint.secret) : {}),
            previousSecretSealed: null,
            previousSecretExpiresAt: null,
            updatedAt: now,
          });
        }
      }
      for (const row of existing) {
        if (!kept.has(row.id)) {
          store.delete(row.projectId, row.id);
          logger.info(
            { endpointId: row.id, project: row.projectId, name: row.name },
            "webhook endpoint removed: the config file no longer has it",
          );
        }
      }
      invalidate();
    },

    directory: {
      endpointsFor(projectId, type) {
        return enabledNow().byProject.get(projectId)?.get(type) ?? [];
      },

      endpointSecrets(endpointId, now) {
        // Not among the cached enabled ones: read it, to be exact about a new endpoint.
        const row = enabledNow().byId.get(endpointId) ?? store.findById(endpointId);
        if (row === undefined || row.disabledAt !== null) {
          return null;
        }
        return { secrets: secretsOf(row, now) };
      },

      recordEndpointOutcome(endpointId, delivered, now, failingSinceSeconds) {
        const row = store.recordOutcome({
          id: endpointId,
          delivered,
          nowSeconds: now,
          failingSinceSeconds,
          disableAfterSeconds: config.disableAfterSeconds,
        });
        if (row !== undefined && !delivered && row.disabledAt === now) {
          invalidate();
          logger.warn(
            {
              endpointId,
              project: row.projectId,
              url: row.url,
              failures: row.consecutiveFailures,
              reason: row.disabledReason,
            },
            "webhook endpoint disabled: its deliveries kept failing; update it to enable it again",
          );
        }
      },
    },
  };

  function secretsOf(row: WebhookEndpointRow, now: number): string[] {
    const secrets = [open(row.secretSealed)];
    if (
      row.previousSecretSealed !== null &&
      row.previousSecretExpiresAt !== null &&
      row.previousSecretExpiresAt > now
    ) {
      secrets.push(open(row.previousSecretSealed));
    }
    return secrets;
  }
}

export function toEndpointObject(row: WebhookEndpointRow): WebhookEndpointObject {
  return {
    id: row.id,
    object: "webhook_endpoint",
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    name: row.name,
    url: row.url,
    event_types: [...row.eventTypes],
    signing_secret_hint: row.secretHint,
    disabled_at: row.disabledAt,
    disabled_reason: row.disabledReason,
  };
}

/** The `data.id` of a test event: shaped like the real subject's id, and plainly a sample. */
function sampleSubjectId(type: WebhookEventType): string {
  // A stream item is a response, so stream events name a resp_ id too.
  const prefix = type.startsWith("batch.") ? "batch_" : "resp_";
  return `${prefix}test_${newId("event").slice("evt_".length)}`;
}
