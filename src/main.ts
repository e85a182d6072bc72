#!/usr/bin/env node
import { Command } from "commander";
import { keysCommand } from "./cli/keys.js";
import { runMigrate } from "./cli/migrate.js";
import { runServe } from "./cli/serve.js";
import { webhooksCommand } from "./cli/webhooks.js";

const program = new Command()
  .name("ferry")
  .description(
    "OpenAI-compatible Responses / Batches API server for background and batch inference",
  );

program
  .command("serve", { isDefault: true })
  .description(
    "run the server (PORT, HOST, FERRY_DATA_DIR, FERRY_CONFIG, FERRY_LOG_LEVEL, FERRY_API_KEYS, FERRY_ALLOW_OPEN)",
  )
  .action(runServe);

program
  .command("migrate")
  .description("apply pending database migrations and exit")
  .action(runMigrate);

program.addCommand(keysCommand());
program.addCommand(webhooksCommand());

await program.parseAsync();
