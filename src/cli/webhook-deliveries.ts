import type { Command } from "commander";
import { ApiError } from "../lib/api-error.js";
import { openDatabase } from "../store/db.js";
import { migrateDatabase } from "../store/migrate.js";
import { createWebhookDeliveryStore } from "../store/webhook-deliveries.js";
import {
  createDeliveryLog,
  DELIVERY_STATUSES,
  type DeliveryLog,
} from "../webhooks/delivery-log.js";
import { loadConfigOrExit } from "./serve.js";

/**
 * `ferry webhooks deliveries` and `ferry webhooks attempts <delivery>`: what the delivery lane
 * did, read from the database under FERRY_DATA_DIR (the server need not run). The same objects
 * as GET /v1/webhook_deliveries. Registered on the `ferry webhooks` command (cli/webhooks.ts).
 */
export function registerWebhookDeliveryCommands(webhooks: Command): void {
  webhooks
    .command("deliveries")
    .description("list a project's webhook and callback deliveries, newest first")
    .requiredOption("--project <project>", "the project whose deliveries to list")
    .option("--endpoint <id>", "only deliveries to this endpoint (whe_…)")
    .option("--status <status>", `only this status: ${DELIVERY_STATUSES.join(", ")}`)
    .option("--limit <n>", "how many (1-100)", "20")
    .option("--after <id>", "start after this delivery (wh_…)")
    .option("--json", "print the list object as JSON")
    .action(
      (options: {
        project: string;
        endpoint?: string;
        status?: string;
        limit: string;
        after?: string;
        json?: boolean;
      }) => {
        const limit = Number(options.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
          fail("--limit: give a whole number from 1 to 100", 2);
        }
        const status = options.status;
        if (status !== undefined && !(DELIVERY_STATUSES as readonly string[]).includes(status)) {
          fail(`--status: one of ${DELIVERY_STATUSES.join(", ")}`, 2);
        }
        withLog((log) => {
          const page = log.list(options.project, {
            endpoint_id: options.endpoint,
            status: status as (typeof DELIVERY_STATUSES)[number] | undefined,
            after: options.after,
            limit,
          });
          if (options.json === true) {
            console.log(JSON.stringify(page, null, 2));
            return;
          }
          for (const delivery of page.data) {
            const target = delivery.endpoint_id ?? `callback of ${delivery.callback_subject_id}`;
            const last =
              delivery.last_error ??
              (delivery.last_status_code === null ? "" : String(delivery.last_status_code));
            console.log(
              [
                delivery.id,
                delivery.status,
                `attempts=${delivery.attempts}`,
                target,
                delivery.url,
                last,
              ]
                .filter((part) => part !== "")
                .join("  "),
            );
          }
          if (page.has_more) {
            console.error(`More: --after ${page.last_id}`);
          }
        });
      },
    );

  webhooks
    .command("attempts")
    .description("show one delivery and every attempt of it")
    .argument("<delivery>", "the delivery id (wh_…, the webhook-id header)")
    .requiredOption("--project <project>", "the project the delivery belongs to")
    .option("--json", "print the delivery with its attempts as JSON")
    .action((deliveryId: string, options: { project: string; json?: boolean }) => {
      withLog((log) => {
        const delivery = log.retrieve(options.project, deliveryId);
        if (options.json === true) {
          console.log(JSON.stringify(delivery, null, 2));
          return;
        }
        console.log(`${delivery.id}  ${delivery.status}  ${delivery.url}`);
        for (const attempt of delivery.attempts) {
          const when = new Date(attempt.started_at * 1000).toISOString();
          const answer = attempt.status_code === null ? "no answer" : String(attempt.status_code);
          console.log(
            `  #${attempt.attempt}  ${when}  ${answer}  ${attempt.latency_ms} ms${attempt.error === null ? "" : `  ${attempt.error}`}`,
          );
        }
      });
    });
}

function withLog(run: (log: DeliveryLog) => void): void {
  const config = loadConfigOrExit();
  const db = openDatabase(config.databasePath);
  try {
    migrateDatabase(db);
    run(createDeliveryLog(createWebhookDeliveryStore(db)));
  } catch (thrown) {
    if (thrown instanceof ApiError) {
      fail(thrown.message, 1);
    }
    throw thrown;
  } finally {
    db.$client.close();
  }
}

function fail(message: string, exitCode: number): never {
  console.error(`ferry webhooks: ${message}`);
  process.exit(exitCode);
}
