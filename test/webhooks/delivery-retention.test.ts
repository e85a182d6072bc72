import { afterEach, describe, expect, it } from "vitest";
import { createWebhookDeliveryStore } from "../../src/store/webhook-deliveries.js";
import { createOutbox } from "../../src/webhooks/create-outbox.js";
import type { TestContext } from "../helpers/test-app.js";
import { createManualClock, HOUR_MS, retentionContext } from "../retention/retention-helpers.js";
import { createTestDirectory } from "./delivery-directory.js";

let t: TestContext | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

const count = (context: TestContext, sql: string) =>
  (context.db.$client.prepare(sql).get() as { n: number }).n;

describe("retention of webhook deliveries", () => {
  it("deletes finished deliveries with their attempts and events once old; pending ones never", async () => {
    const clock = createManualClock();
    const context = retentionContext(clock);
    t = context;
    const directory = createTestDirectory(context.db);
    directory.addEndpoint({ projectId: "default", url: "http://127.0.0.1:9/hook" });
    const store = createWebhookDeliveryStore(context.db);
    const outbox = createOutbox({
      store,
      directory,
      clock,
      retryForMs: 72 * HOUR_MS,
      onNotify: () => {},
    });
    const emit = (subjectId: string) =>
      context.db.$client.transaction(() =>
        outbox.record({
          projectId: "default",
          type: "response.completed",
          subjectId,
          createdAt: 1,
        }),
      )();
    for (const subject of ["resp_delivered", "resp_failed", "resp_cancelled", "resp_pending"]) {
      emit(subject);
    }
    const claimed = store.claimDue("lane_t", clock.nowMs(), clock.nowMs() + 60_000, 10);
    expect(claimed).toHaveLength(4);
    const attempt = { startedAtMs: clock.nowMs(), latencyMs: 3, statusCode: 500, error: "no" };
    const outcomes = [
      { kind: "delivered", atMs: clock.nowMs() },
      { kind: "failed" },
      { kind: "cancelled", reason: "the endpoint was deleted or disabled" },
      { kind: "retry", nextAttemptAtMs: clock.nowMs() + 10 * HOUR_MS },
    ] as const;
    context.db.$client.transaction(() => {
      claimed.forEach((delivery, i) => {
        const outcome = outcomes[i] ?? outcomes[0];
        expect(
          store.recordOutcome({
            deliveryId: delivery.id,
            leaseOwner: "lane_t",
            attempt: outcome.kind === "cancelled" ? null : attempt,
            outcome,
          }),
        ).toBe(true);
      });
    })();

    // Within the retention window nothing goes.
    clock.advanceMs(HOUR_MS / 2);
    expect((await context.services.retention.sweep()).webhookDeliveries).toBe(0);

    clock.advanceMs(HOUR_MS);
    emit("resp_recent"); // finished or not, too young
    const counts = await context.services.retention.sweep();
    expect(counts.webhookDeliveries).toBe(3);
    const left = context.db.$client
      .prepare(`SELECT status FROM webhook_deliveries ORDER BY status`)
      .all() as { status: string }[];
    expect(left.map((row) => row.status)).toEqual(["pending", "pending"]);
    expect(count(context, `SELECT COUNT(*) AS n FROM webhook_events`)).toBe(2);
    // Only the pending delivery's attempt is left.
    expect(count(context, `SELECT COUNT(*) AS n FROM webhook_delivery_attempts`)).toBe(1);

    // However old, a pending delivery stays.
    clock.advanceMs(100 * HOUR_MS);
    expect((await context.services.retention.sweep()).webhookDeliveries).toBe(0);
    expect(count(context, `SELECT COUNT(*) AS n FROM webhook_deliveries`)).toBe(2);
  });
});
