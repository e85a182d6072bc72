import { defineConfig } from "drizzle-kit";

// `npm run db:generate` turns changes in src/store/schema.ts into a new SQL file in migrations/.
// Applied migrations are never edited; the server applies pending ones at start.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/store/schema.ts",
  out: "./migrations",
});
