import { randomBytes } from "node:crypto";
import type { WebhooksConfig } from "../config.js";
import type { Clock } from "../lib/clock.js";
import { coerceError } from "../lib/coerce-error.js";
import type { Logger } from "../lib/logger.js";
import type {
  AttemptRecord,
  ClaimedDelivery,
  DeliveryOutcome,
  WebhookDeliveryStore,
} from "../store/webhook-deliveries.js";
import type { OutboundPolicy } from "./outbound-url.js";
import type { CallbackTarget, DeliveryDirectory } from "./outbox.js";
import type { DeliverySender } from "./send-delivery.js";
import { signWebhook } from "./signature.js";

/**
 * The delivery lane: sends what the outbox wrote, at least once, with the same `webhook-id` on
 * every attempt. It is the executor's neighbour, not its tenant: its own concurrency (all
 * destinations, and per destination host), its own timers, never a backend slot, so a slow or
 * dead receiver cannot delay inference.
 *
 * Durability rests on the lease: a claimed delivery is this lane's until its lease runs out.
 * Leases are renewed while held (waiting for a host slot, or in a slow attempt), so no second
 * lane claims them; after a kill -9 they run out and any lane retries. An attempt's outcome is
 * written only while the lease is still ours (store/webhook-deliveries.ts).
 *
 * Outcomes are written through the services' group commit: one transaction per event-loop turn
 * for every attempt that ended in it, not one per attempt.
 */
export interface DeliveryLaneConfig
  extends Pick<
    WebhooksConfig,
    | "maxConcurrency"
    | "maxConcurrencyPerHost"
    | "timeoutMs"
    | "retryBaseDelayMs"
    | "retryMaxDelayMs"
    | "maxResponseBytes"
  > {}

export interface DeliveryLaneDeps {
  readonly store: WebhookDeliveryStore;
  readonly directory: DeliveryDirectory;
  readonly sender: DeliverySender;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly config: DeliveryLaneConfig;
  readonly policy: OutboundPolicy;
  /** Writes in the next group transaction (store/group-commit.ts); resolves once committed. */
  readonly commitSoon: (write: () => void) => Promise<void>;
  /** The lease owner's name; random by default (one per process, or per lane in tests). */
  readonly owner?: string;
  /**
   * How long a claim holds before another lane may take it; by default the attempt timeout and
   * a margin. Crash tests shorten it so a killed lane's deliveries come back quickly.
   */
  readonly leaseMs?: number;
  /** [0, 1): the backoff's jitter (tests may fix it). */
  readonly random?: () => number;
}

export interface DeliveryLane {
  /** Picks up pending deliveries (those a previous process left too) and keeps delivering. */
  start(): void;
  /** Looks for due deliveries now (after an outbox write committed). */
  wake(): void;
  /**
   * Aborts attempts in flight and hands back what it holds (due again at once, to any lane),
   * then waits for every outcome to be written.
   */
  stop(): Promise<void>;
  /**
   * For tests: delivers until nothing is due now and nothing is held (deliveries due later, such
   * as retries, are left). Works without start().
   */
  drain(): Promise<void>;
}

/** Margin of a lease over the longest attempt: recording, a busy event loop, clock steps. */
const LEASE_MARGIN_MS = 30_000;
/** Without a wake-up, how often the lane looks for work another process wrote. */
const MAX_IDLE_MS = 1_000;

export function createDeliveryLane(deps: DeliveryLaneDeps): DeliveryLane {
  const { store, directory, sender, clock, logger, config, policy, commitSoon } = deps;
  const owner = deps.owner ?? `lane_${randomBytes(8).toString("hex")}`;
  const random = deps.random ?? Math.random;
  const leaseMs = deps.leaseMs ?? config.timeoutMs + LEASE_MARGIN_MS;
  // Claims are writes: wait until a few slots are free rather than claim for every one.
  const claimThreshold = Math.max(1, Math.min(8, Math.floor(config.maxConcurrency / 4)));

  /** Every delivery held: running, or waiting for its host. */
  const held = new Map<string, ClaimedDelivery>();
  const running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  const activePerHost = new Map<string, number>();
  const waitingPerHost = new Map<string, ClaimedDelivery[]>();
  const recording = new Set<Promise<void>>();

  let isStarted = false;
  let isStopping = false;
  let pumpScheduled = false;
  // Whether the last look may have left due deliveries behind (it had no room for them all):
  // only then does an attempt's end look again. New events wake the lane (wake()), and retries
  // re-arm the due timer when their outcome is written.
  let mayHaveMoreDue = true;
  let dueTimer: NodeJS.Timeout | null = null;
  let renewTimer: NodeJS.Timeout | null = null;

  function schedulePump(): void {
    if (pumpScheduled || isStopping) {
      return;
    }
    pumpScheduled = true;
    setImmediate(() => {
      pumpScheduled = false;
      pump();
    });
  }

  /** Claims what is due, as far as there is room, and starts what its host allows. */
  function pump(): void {
    if (isStopping) {
      return;
    }
    const free = config.maxConcurrency - held.size;
    let claimedAll = false;
    if (free < claimThreshold && !(free > 0 && held.size === 0)) {
      mayHaveMoreDue = true;
    } else {
      let claimed: ClaimedDelivery[] = [];
      const nowMs = clock.nowMs();
      try {
        claimed = store.claimDue(owner, nowMs, nowMs + leaseMs, free);
      } catch (thrown) {
        logger.error({ err: coerceError(thrown) }, "claiming webhook deliveries failed");
      }
      claimedAll = claimed.length === free;
      mayHaveMoreDue = claimedAll;
      for (const delivery of claimed) {
        held.set(delivery.id, delivery);
        const host = hostOf(delivery.url);
        const waiting = waitingPerHost.get(host);
        if (waiting === undefined) {
          waitingPerHost.set(host, [delivery]);
        } else {
          waiting.push(delivery);
        }
        startWaiting(host);
      }
    }
    if (isStarted && !claimedAll) {
      armDueTimer();
    }
  }

  /** A timer to the earliest due time, at most MAX_IDLE_MS away (other processes write too). */
  function armDueTimer(): void {
    if (dueTimer !== null) {
      clearTimeout(dueTimer);
    }
    let delayMs = MAX_IDLE_MS;
    try {
      const dueMs = store.earliestDueMs();
      const nowMs = clock.nowMs();
      // Due already yet not claimed: leased (here or elsewhere), so the idle wait is right.
      if (dueMs !== null && dueMs > nowMs) {
        delayMs = Math.min(MAX_IDLE_MS, dueMs - nowMs);
      }
    } catch (thrown) {
      logger.error({ err: coerceError(thrown) }, "reading the next webhook due time failed");
    }
    dueTimer = setTimeout(() => {
      dueTimer = null;
      pump();
    }, delayMs);
    dueTimer.unref();
  }

  function startWaiting(host: string): void {
    const waiting = waitingPerHost.get(host);
    while (waiting !== undefined && waiting.length > 0) {
      const active = activePerHost.get(host) ?? 0;
      if (active >= config.maxConcurrencyPerHost) {
        return;
      }
      const delivery = waiting.shift() as ClaimedDelivery;
      activePerHost.set(host, active + 1);
      const controller = new AbortController();
      const done = attempt(delivery, controller.signal).finally(() => {
        running.delete(delivery.id);
        held.delete(delivery.id);
        const left = (activePerHost.get(host) ?? 1) - 1;
        if (left === 0) {
          activePerHost.delete(host);
        } else {
          activePerHost.set(host, left);
        }
        if (!isStopping) {
          startWaiting(host);
          if (mayHaveMoreDue) {
            schedulePump();
          }
        }
      });
      running.set(delivery.id, { controller, done });
    }
    if (waiting !== undefined && waiting.length === 0) {
      waitingPerHost.delete(host);
    }
  }

  /** Where and how to send, or why the delivery is cancelled. */
  function destinationOf(
    delivery: ClaimedDelivery,
    nowSeconds: number,
  ): { secrets: readonly string[]; auth: CallbackTarget["auth"] } | { cancelled: string } {
    if (delivery.endpointId !== null) {
      const secrets = directory.endpointSecrets(delivery.endpointId, nowSeconds);
      return secrets === null
        ? { cancelled: "the endpoint was deleted or disabled" }
        : { secrets: secrets.secrets, auth: null };
    }
    const target =
      delivery.callbackSubjectId === null ? null : directory.callbackOf(delivery.callbackSubjectId);
    return target === null
      ? { cancelled: "the callback is gone" }
      : { secrets: target.secret === null ? [] : [target.secret], auth: target.auth };
  }

  async function attempt(delivery: ClaimedDelivery, signal: AbortSignal): Promise<void> {
    const startedAtMs = clock.nowMs();
    const nowSeconds = Math.floor(startedAtMs / 1000);
    let record: AttemptRecord;
    try {
      const destination = destinationOf(delivery, nowSeconds);
      if ("cancelled" in destination) {
        await finish(delivery, null, { kind: "cancelled", reason: destination.cancelled });
        return;
      }
      // A fresh timestamp on every attempt: a retry after an outage still passes the
      // receiver's tolerance window (the SDK's is five minutes).
      const signed: Record<string, string> = signWebhook({
        id: delivery.id,
        timestampSeconds: nowSeconds,
        body: delivery.body,
        secrets: destination.secrets,
      });
      if (destination.secrets.length === 0) {
        delete signed["webhook-signature"];
      }
      const result = await sender.send(
        {
          url: delivery.url,
          body: delivery.body,
          headers: signed,
          auth: destination.auth,
          timeoutMs: config.timeoutMs,
          maxResponseBytes: config.maxResponseBytes,
          policy,
        },
        signal,
      );
      record = {
        startedAtMs,
        latencyMs: result.latencyMs,
        statusCode: result.statusCode,
        error:
          signal.aborted && result.error !== null
            ? "ferry stopped during the attempt"
            : result.error,
      };
    } catch (thrown) {
      // The directory could not open a secret (the key changed?): an attempt that failed.
      record = {
        startedAtMs,
        latencyMs: clock.nowMs() - startedAtMs,
        statusCode: null,
        error: `could not prepare the delivery: ${coerceError(thrown).message}`,
      };
    }
    await finish(delivery, record, outcomeOf(delivery, record, signal.aborted));
  }

  function outcomeOf(
    delivery: ClaimedDelivery,
    record: AttemptRecord,
    wasAborted: boolean,
  ): DeliveryOutcome {
    const nowMs = clock.nowMs();
    if (record.error === null) {
      return { kind: "delivered", atMs: nowMs };
    }
    if (wasAborted) {
      return { kind: "released" };
    }
    if (nowMs >= delivery.giveUpAtMs) {
      return { kind: "failed" };
    }
    // Full jitter over an exponentially growing cap: retries of many deliveries that failed
    // together (a receiver's outage) spread out instead of arriving in waves.
    const attemptNumber = delivery.attempts + 1;
    const capMs = Math.min(
      config.retryMaxDelayMs,
      config.retryBaseDelayMs * 2 ** Math.min(attemptNumber - 1, 40),
    );
    const delayMs = Math.round(random() * capMs);
    return { kind: "retry", nextAttemptAtMs: Math.min(nowMs + delayMs, delivery.giveUpAtMs) };
  }

  function finish(
    delivery: ClaimedDelivery,
    record: AttemptRecord | null,
    outcome: DeliveryOutcome,
  ): Promise<void> {
    const endpointId = delivery.endpointId;
    const isFinal = outcome.kind === "delivered" || outcome.kind === "failed";
    const written = commitSoon(() => {
      const applied = store.recordOutcome({
        deliveryId: delivery.id,
        leaseOwner: owner,
        attempt: record,
        outcome,
      });
      if (applied && isFinal && endpointId !== null) {
        // In the same transaction, so a kill -9 cannot count an outcome twice or not at all;
        // its failure must not undo the outcome itself.
        try {
          directory.recordEndpointOutcome(
            endpointId,
            outcome.kind === "delivered",
            Math.floor(clock.nowMs() / 1000),
            Math.floor(delivery.createdAtMs / 1000),
          );
        } catch (thrown) {
          logger.error(
            { err: coerceError(thrown), endpointId },
            "recording a webhook endpoint's outcome failed",
          );
        }
      }
      if (!applied) {
        logger.warn(
          { deliveryId: delivery.id },
          "a webhook delivery's lease ran out during its attempt; its outcome was not recorded",
        );
      }
    }).catch((thrown: unknown) => {
      // The lease stays; once it runs out the delivery is attempted again (same webhook-id).
      logger.error(
        { err: coerceError(thrown), deliveryId: delivery.id },
        "recording a webhook delivery attempt failed",
      );
    });
    recording.add(written);
    void written.finally(() => {
      recording.delete(written);
      // A retry is due again later: the due timer must know (a pump re-arms it).
      if (outcome.kind === "retry") {
        schedulePump();
      }
    });
    return written;
  }

  function renewLeases(): void {
    if (held.size === 0) {
      return;
    }
    try {
      store.renewLeases(owner, [...held.keys()], clock.nowMs() + leaseMs);
    } catch (thrown) {
      logger.error({ err: coerceError(thrown) }, "renewing webhook delivery leases failed");
    }
  }

  async function settle(): Promise<void> {
    while (running.size > 0 || recording.size > 0) {
      await Promise.all([...[...running.values()].map((entry) => entry.done), ...recording]);
    }
  }

  return {
    start() {
      if (isStarted) {
        return;
      }
      isStarted = true;
      isStopping = false;
      renewTimer = setInterval(renewLeases, Math.max(100, Math.floor(leaseMs / 3)));
      renewTimer.unref();
      schedulePump();
    },

    wake() {
      schedulePump();
    },

    async stop() {
      isStopping = true;
      isStarted = false;
      if (dueTimer !== null) {
        clearTimeout(dueTimer);
        dueTimer = null;
      }
      for (const entry of running.values()) {
        entry.controller.abort();
      }
      for (const [host, waiting] of waitingPerHost) {
        waitingPerHost.delete(host);
        for (const delivery of waiting) {
          void finish(delivery, null, { kind: "released" }).finally(() => held.delete(delivery.id));
        }
      }
      await settle();
      if (renewTimer !== null) {
        clearInterval(renewTimer);
        renewTimer = null;
      }
    },

    async drain() {
      for (;;) {
        pump();
        await settle();
        await new Promise<void>((resolve) => setImmediate(resolve));
        const dueMs = store.earliestDueMs();
        if (held.size === 0 && running.size === 0 && (dueMs === null || dueMs > clock.nowMs())) {
          return;
        }
        if (held.size === 0) {
          // Due but leased elsewhere (another lane): give it a moment.
          await new Promise<void>((resolve) => setTimeout(resolve, 10));
        }
      }
    },
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "";
  }
}
