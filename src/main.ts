#!/usr/bin/env node
import { Command } from "commander";
import { runMigrate } from "./cli/migrate.js";
import { runServe } from "./cli/serve.js";

const program = new Command()
  .name("ferry")
  .description(
    "OpenAI-compatible Responses / Batches API server for background and batch inference",
  );

program
  .command("serve", { isDefault: true })
  .description("run the server (PORT, HOST, FERRY_DATA_DIR, FERRY_CONFIG, FERRY_LOG_LEVEL)")
  .action(runServe);

program
  .command("migrate")
  .description("apply pending database migrations and exit")
  .action(runMigrate);

await program.parseAsync();
