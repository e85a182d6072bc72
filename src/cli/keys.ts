import { Command } from "commander";
import { API_KEY_SCOPES, type ApiKeyScope, parseScopeList } from "../contract/api-keys.js";
import { systemClock } from "../lib/clock.js";
import { type ApiKeyInfo, createApiKeysService } from "../services/api-keys.js";
import { createApiKeyStore } from "../store/api-keys.js";
import { openDatabase } from "../store/db.js";
import { migrateDatabase } from "../store/migrate.js";
import { formatTime, printTable } from "./print-table.js";
import { loadConfigOrExit } from "./serve.js";

/**
 * `ferry keys create|list|revoke`: manages the API keys in the data dir's database directly, so
 * it works whether or not the server runs. A running server sees a new key on its next request
 * and a revocation within a second.
 */
export function keysCommand(): Command {
  const keys = new Command("keys").description(
    "manage API keys in the database under FERRY_DATA_DIR (only their hashes are stored)",
  );

  keys
    .command("create")
    .description("create a key and print it once")
    .requiredOption("--project <project>", "the project (tenant) the key acts for")
    .option(
      "--scopes <scopes>",
      `comma-separated scopes (default: every scope but admin): ${API_KEY_SCOPES.join(", ")}`,
    )
    .option("--name <name>", "a label to recognise the key by")
    .option("--json", "print the key and its details as JSON")
    .action((options: { project: string; scopes?: string; name?: string; json?: boolean }) => {
      let scopes: ApiKeyScope[] | undefined;
      if (options.scopes !== undefined) {
        try {
          scopes = parseScopeList(options.scopes, ",");
        } catch (err) {
          fail(`--scopes: ${err instanceof Error ? err.message : String(err)}`, 2);
        }
      }
      withKeys((service) => {
        let created: ReturnType<typeof service.create>;
        try {
          created = service.create({
            projectId: options.project,
            name: options.name ?? null,
            scopes,
          });
        } catch (err) {
          fail(`--project: ${err instanceof Error ? err.message : String(err)}`, 2);
        }
        const { key, info } = created;
        if (options.json === true) {
          console.log(JSON.stringify({ key, ...toJson(info) }, null, 2));
          return;
        }
        console.log(key);
        console.error(
          `Created ${info.id} (${info.keyPrefix}) for project '${info.projectId}' with scopes ${info.scopes.join(",")}.`,
        );
        console.error("This is the only time the key is shown: ferry keeps only its hash.");
      });
    });

  keys
    .command("list")
    .description("list keys (never the keys themselves)")
    .option("--json", "print JSON")
    .action((options: { json?: boolean }) => {
      withKeys((service) => {
        const list = service.list();
        if (options.json === true) {
          console.log(JSON.stringify(list.map(toJson), null, 2));
          return;
        }
        if (list.length === 0) {
          console.log("No API keys. Create one with: ferry keys create --project <project>");
          return;
        }
        printTable(
          ["ID", "PROJECT", "NAME", "PREFIX", "SCOPES", "CREATED", "LAST USED", "REVOKED"],
          list.map((info) => [
            info.id,
            info.projectId,
            info.name ?? "-",
            info.keyPrefix,
            info.scopes.join(","),
            formatTime(info.createdAt),
            formatTime(info.lastUsedAt),
            formatTime(info.revokedAt),
          ]),
        );
      });
    });

  keys
    .command("revoke")
    .description("revoke a key by its id (key_…); it stops working at once")
    .argument("<id>", "the key's id, as `ferry keys list` shows it")
    .action((id: string) => {
      withKeys((service) => {
        const before = service.list().find((info) => info.id === id);
        const info = service.revoke(id);
        if (info === undefined) {
          fail(`no API key with id '${id}'`, 1);
        }
        const when = formatTime(info.revokedAt);
        console.log(
          before?.revokedAt !== null && before?.revokedAt !== undefined
            ? `${id} (${info.keyPrefix}) was already revoked at ${when}.`
            : `Revoked ${id} (${info.keyPrefix}, project '${info.projectId}').`,
        );
      });
    });

  return keys;
}

function withKeys(run: (service: ReturnType<typeof createApiKeysService>) => void): void {
  const config = loadConfigOrExit();
  const db = openDatabase(config.databasePath);
  try {
    migrateDatabase(db);
    run(createApiKeysService({ store: createApiKeyStore(db), clock: systemClock }));
  } finally {
    db.$client.close();
  }
}

function fail(message: string, exitCode: number): never {
  console.error(`ferry keys: ${message}`);
  process.exit(exitCode);
}

function toJson(info: ApiKeyInfo) {
  return {
    id: info.id,
    project: info.projectId,
    name: info.name,
    prefix: info.keyPrefix,
    scopes: info.scopes,
    created_at: info.createdAt,
    last_used_at: info.lastUsedAt,
    revoked_at: info.revokedAt,
  };
}
