import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * The drizzle schema is the one source of truth for tables; `npm run db:generate` derives the
 * SQL migrations from it. Columns are snake_case; JSON columns hold wire-shaped objects.
 * Timestamps ending in `_at` are unix seconds (OpenAI's wire unit).
 */

export const responses = sqliteTable(
  "responses",
  {
    id: text("id").primaryKey(),
    /** The tenant. A single "default" project until API keys arrive. */
    projectId: text("project_id").notNull(),
    status: text("status").notNull(),
    model: text("model").notNull(),
    createdAt: integer("created_at").notNull(),
    completedAt: integer("completed_at"),
    background: integer("background", { mode: "boolean" }).notNull().default(false),
    previousResponseId: text("previous_response_id"),
    /** The request parameters echoed on the Response object (instructions, temperature, tools, …). */
    params: text("params", { mode: "json" }).notNull().$type<Record<string, unknown>>(),
    metadata: text("metadata", { mode: "json" }).notNull().$type<Record<string, string>>(),
    /** Input items with their ids, as `GET /v1/responses/{id}/input_items` lists them. */
    inputItems: text("input_items", { mode: "json" }).notNull().$type<unknown[]>(),
    output: text("output", { mode: "json" }).notNull().$type<unknown[]>(),
    usage: text("usage", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error", { mode: "json" }).$type<{ code: string; message: string }>(),
    incompleteDetails: text("incomplete_details", { mode: "json" }).$type<{ reason: string }>(),
  },
  (table) => [index("responses_project_created").on(table.projectId, table.createdAt, table.id)],
);

export type ResponseRow = typeof responses.$inferSelect;
export type NewResponseRow = typeof responses.$inferInsert;
