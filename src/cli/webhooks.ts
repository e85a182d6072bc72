import { Command } from "commander";
import type { Config } from "../config.js";
import { PROJECT_ID_PATTERN } from "../contract/api-keys.js";
import { CreateWebhookEndpointSchema } from "../contract/webhook-endpoints.js";
import { ApiError } from "../lib/api-error.js";
import { systemClock } from "../lib/clock.js";
import { coerceError } from "../lib/coerce-error.js";
import { createSilentLogger } from "../lib/logger.js";
import { toPage } from "../services/paginate.js";
import { openDatabase } from "../store/db.js";
import { migrateDatabase } from "../store/migrate.js";
import {
  createWebhookEndpointStore,
  type WebhookEndpointStore,
} from "../store/webhook-endpoints.js";
import {
  createWebhookEndpoints,
  type WebhookEndpointObject,
  type WebhookEndpoints,
  type WebhookEndpointWithSecret,
} from "../webhooks/endpoints.js";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/event-types.js";
import { createSecretBox, loadSecretsKey, type SecretBox } from "../webhooks/secret-box.js";
import { createDeliverySender } from "../webhooks/send-delivery.js";
import { formatTime, printTable } from "./print-table.js";
import { loadConfigOrExit } from "./serve.js";
import { registerWebhookDeliveryCommands } from "./webhook-deliveries.js";

/**
 * `ferry webhooks add|list|remove|rotate`, and `deliveries|attempts` (cli/webhook-deliveries.ts):
 * a project's webhook endpoints in the database under FERRY_DATA_DIR, through the same service as
 * /v1/webhook_endpoints, so a URL is checked against outbound.allow_networks and event types are
 * validated exactly as over HTTP. The server need not run; a running one sees changes within a
 * second. Exit codes: 0 done, 2 bad arguments, 1 anything else (an unknown id, say).
 */
export function webhooksCommand(): Command {
  const webhooks = new Command("webhooks")
    .description(
      "manage a project's webhook endpoints in the database under FERRY_DATA_DIR, and see their deliveries",
    )
    // A missing flag or unknown option is a bad argument like a bad value: exit 2. Set before
    // the subcommands are made, since they copy it.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

  webhooks
    .command("add")
    .description("create an endpoint and print its signing secret once")
    .requiredOption("--project <project>", "the project whose events it receives")
    .requiredOption("--name <name>", "a label to recognise it by")
    .requiredOption("--url <url>", "where ferry POSTs the events (http or https)")
    .requiredOption(
      "--events <types>",
      `comma-separated event types: ${WEBHOOK_EVENT_TYPES.join(", ")}`,
    )
    .option("--json", "print the endpoint with its signing secret as JSON")
    .action(
      reportingFailures(
        async (options: {
          project: string;
          name: string;
          url: string;
          events: string;
          json?: boolean;
        }) => {
          const project = requireProject(options.project);
          const parsed = CreateWebhookEndpointSchema.safeParse({
            name: options.name,
            url: options.url,
            event_types: options.events
              .split(",")
              .map((type) => type.trim())
              .filter((type) => type !== ""),
          });
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            const flag = flagOf(String(issue?.path[0] ?? "")) ?? "arguments";
            throw new CliFailure(`${flag}: ${issue?.message ?? "invalid"}`, 2);
          }
          await withEndpoints(async (endpoints) => {
            const created = await endpoints.create(project, parsed.data);
            if (options.json === true) {
              console.log(JSON.stringify(created, null, 2));
              return;
            }
            console.log(
              `Created ${created.id} ('${created.name}', project '${project}'): ${created.event_types.join(",")} to ${created.url}`,
            );
            printSecretOnce(created);
          });
        },
      ),
    );

  webhooks
    .command("list")
    .description("list a project's endpoints, newest first (never their secrets)")
    .requiredOption("--project <project>", "the project whose endpoints to list")
    .option("--json", "print the list object as JSON")
    .action(
      reportingFailures(async (options: { project: string; json?: boolean }) => {
        const project = requireProject(options.project);
        await withEndpoints((endpoints) => {
          const all = listAll(endpoints, project);
          if (options.json === true) {
            console.log(JSON.stringify(toPage(all, false), null, 2));
            return;
          }
          if (all.length === 0) {
            console.log(
              `No webhook endpoints in project '${project}'. Add one with: ferry webhooks add --project ${project} --name <name> --url <url> --events <types>`,
            );
            return;
          }
          printTable(
            ["ID", "NAME", "URL", "EVENTS", "SECRET", "STATUS"],
            all.map((endpoint) => [
              endpoint.id,
              endpoint.name,
              endpoint.url,
              endpoint.event_types.join(","),
              endpoint.signing_secret_hint ?? "-",
              statusOf(endpoint),
            ]),
          );
        });
      }),
    );

  webhooks
    .command("remove")
    .description("delete an endpoint; its pending deliveries end cancelled")
    .argument("<id>", "the endpoint's id (whe_…), as `ferry webhooks list` shows it")
    .requiredOption("--project <project>", "the project the endpoint belongs to")
    .action(
      reportingFailures(async (id: string, options: { project: string }) => {
        const project = requireProject(options.project);
        await withEndpoints((endpoints) => {
          endpoints.delete(project, id);
          console.log(`Removed ${id} (project '${project}').`);
        });
      }),
    );

  webhooks
    .command("rotate")
    .description("give an endpoint a new signing secret and print it once")
    .argument("<id>", "the endpoint's id (whe_…)")
    .requiredOption("--project <project>", "the project the endpoint belongs to")
    .option("--keep-old", "the old secret also signs deliveries for 24 hours")
    .action(
      reportingFailures(async (id: string, options: { project: string; keepOld?: boolean }) => {
        const project = requireProject(options.project);
        const keepOld = options.keepOld === true;
        await withEndpoints((endpoints) => {
          const rotated = endpoints.rotateSecret(project, id, { keepOldSecretFor24Hours: keepOld });
          console.log(
            keepOld
              ? `Rotated the signing secret of ${id}; deliveries carry signatures by both secrets for 24 hours.`
              : `Rotated the signing secret of ${id}; the old secret no longer signs anything.`,
          );
          printSecretOnce(rotated);
        });
      }),
    );

  registerWebhookDeliveryCommands(webhooks);
  return webhooks;
}

/** A failure the CLI reports as it is: its message on stderr and its exit code. */
class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

/** The flag each create-body field comes from, to name it in an error. */
const FLAG_OF_FIELD: Readonly<Record<string, string>> = {
  name: "--name",
  url: "--url",
  event_types: "--events",
};

function flagOf(field: string): string | undefined {
  return FLAG_OF_FIELD[field];
}

/**
 * Runs an action and reports what it refused: a bad argument (a flag's value, including a URL
 * outbound.allow_networks does not allow) exits 2; any other ApiError (an unknown id, an endpoint
 * from the config file) exits 1. Set as the exit code, so the database and sender still close.
 */
function reportingFailures<A extends unknown[]>(
  action: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (thrown) {
      const failure = toFailure(thrown);
      console.error(`ferry webhooks: ${failure.message}`);
      process.exitCode = failure.exitCode;
    }
  };
}

function toFailure(thrown: unknown): CliFailure {
  if (thrown instanceof CliFailure) {
    return thrown;
  }
  if (thrown instanceof ApiError) {
    const flag = flagOf(thrown.options.param ?? "");
    if (thrown.status === 400 && flag !== undefined) {
      return new CliFailure(`${flag}: ${thrown.message}`, 2);
    }
    return new CliFailure(thrown.message, 1);
  }
  throw thrown;
}

function requireProject(project: string): string {
  if (!PROJECT_ID_PATTERN.test(project)) {
    throw new CliFailure(
      `--project: '${project}' is not a valid project: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`,
      2,
    );
  }
  return project;
}

async function withEndpoints(run: (endpoints: WebhookEndpoints) => Promise<void> | void) {
  const config = loadConfigOrExit();
  const db = openDatabase(config.databasePath);
  // The service wants a sender for test sends, which no command here makes; it opens no
  // connection until one is sent.
  const sender = createDeliverySender();
  try {
    migrateDatabase(db);
    const store = createWebhookEndpointStore(db);
    await run(
      createWebhookEndpoints({
        store,
        box: openSecretBoxOfStoredSecrets(config, store),
        clock: systemClock,
        // Nothing these commands call logs (only start-up reconciling and the delivery
        // directory do); what happened is printed instead.
        logger: createSilentLogger(),
        policy: { allowNetworks: config.outbound.allowNetworks },
        sender,
        config: config.webhooks,
      }),
    );
  } finally {
    await sender.close();
    db.$client.close();
  }
}

/**
 * The secret box, made when a secret is first sealed or opened. The CLI may run without the
 * server's environment: without its FERRY_SECRETS_KEY it would seal with `<data dir>/secrets.key`
 * instead, and the server could not open the secret to sign with. So the key must open a secret
 * already stored, when there is one.
 */
function openSecretBoxOfStoredSecrets(config: Config, store: WebhookEndpointStore) {
  let box: SecretBox | null = null;
  return (): SecretBox => {
    if (box !== null) {
      return box;
    }
    let made: SecretBox;
    try {
      made = createSecretBox(
        loadSecretsKey({ envKey: config.secretsKey ?? undefined, dataDir: config.dataDir }),
      );
    } catch (thrown) {
      throw new CliFailure(coerceError(thrown).message, 1);
    }
    const stored = store.listEnabled()[0];
    if (stored !== undefined) {
      try {
        made.open(stored.secretSealed);
      } catch {
        throw new CliFailure(
          `the secrets key (${config.secretsKey === null ? `${config.dataDir}/secrets.key` : "FERRY_SECRETS_KEY"}) does not open the webhook secrets already stored (${stored.id}'s); run this with the server's FERRY_SECRETS_KEY. Nothing was changed.`,
          1,
        );
      }
    }
    box = made;
    return made;
  };
}

function listAll(endpoints: WebhookEndpoints, project: string): WebhookEndpointObject[] {
  const all: WebhookEndpointObject[] = [];
  let after: string | undefined;
  do {
    const page = endpoints.list(project, { after, limit: 100 });
    all.push(...page.data);
    after = page.has_more ? (page.last_id ?? undefined) : undefined;
  } while (after !== undefined);
  return all;
}

function statusOf(endpoint: WebhookEndpointObject): string {
  if (endpoint.disabled_at === null) {
    return "enabled";
  }
  const reason = endpoint.disabled_reason === null ? "" : `: ${endpoint.disabled_reason}`;
  return `disabled since ${formatTime(endpoint.disabled_at)}${reason}`;
}

function printSecretOnce(endpoint: WebhookEndpointWithSecret): void {
  console.log(`Signing secret: ${endpoint.signing_secret}`);
  console.log(
    "This is the only time the secret is shown: ferry keeps it sealed and will not show it again (`ferry webhooks rotate` makes a new one).",
  );
}
