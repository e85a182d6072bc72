/**
 * `ferry webhooks deliveries|attempts` on their own, until the `webhooks` command (cli/webhooks.ts)
 * registers them: `node --import tsx test/webhooks/cli-process.ts deliveries --project p`.
 */
import { Command } from "commander";
import { registerWebhookDeliveryCommands } from "../../src/cli/webhook-deliveries.js";

const webhooks = new Command("webhooks");
registerWebhookDeliveryCommands(webhooks);
await webhooks.parseAsync(process.argv);
