import { and, eq, getTableColumns, inArray, is, SQL, sql } from "drizzle-orm";
import { SQLiteTextJson } from "drizzle-orm/sqlite-core";
import { stringifyReusingTexts } from "../lib/json-text.js";
import type { Db } from "./db.js";
import { createGroupCommit } from "./group-commit.js";
import { type NewResponseRow, type ResponseRow, responses } from "./schema.js";

/** Queries on the responses table. The only place that knows how responses are stored. */
export interface ResponseStore {
  /** Inserts at once: for callers that write the row inside their own transaction. */
  insert(row: NewResponseRow): void;
  /**
   * Inserts in the next group commit (see group-commit.ts). Resolves once the row is committed,
   * so a caller that awaits it never answers a client about a row that could still be lost.
   * Not for use inside a transaction.
   */
  insertDurably(row: NewResponseRow): Promise<void>;
  find(projectId: string, id: string): ResponseRow | undefined;
  /** Any project's row: for internal callers that already hold an authorised id. */
  findById(id: string): ResponseRow | undefined;
  /** Returns whether a row was deleted. */
  delete(projectId: string, id: string): boolean;
  /** queued -> in_progress, for responses the executor just claimed. */
  markInProgress(ids: readonly string[]): void;
  /**
   * Writes the outcome of a running response. Guarded by status, so a response that was
   * cancelled meanwhile stays cancelled. Returns whether it was written.
   */
  finish(id: string, outcome: ResponseOutcome): boolean;
  /** queued | in_progress -> cancelled; returns whether it changed. */
  cancel(id: string): boolean;
}

export type ResponseOutcome = Pick<
  NewResponseRow,
  "status" | "completedAt" | "output" | "usage" | "error" | "incompleteDetails"
>;

const ACTIVE = ["queued", "in_progress"];

// The insert is the hot path of every stored response, so it skips drizzle's per-call query
// building: one statement prepared up front, with values encoded the way drizzle encodes them
// (each column's mapToDriverValue; null stays NULL; an omitted value takes the column's default),
// from the drizzle schema, so a new column is picked up without touching this code.
const INSERT_COLUMNS = Object.entries(getTableColumns(responses));
for (const [key, column] of INSERT_COLUMNS) {
  if (is(column.default, SQL) || column.defaultFn !== undefined) {
    throw new Error(`responses.${key}: the prepared insert supports only plain defaults`);
  }
}
const INSERT_SQL =
  `insert into "responses" (${INSERT_COLUMNS.map(([, column]) => `"${column.name}"`).join(", ")}) ` +
  `values (${INSERT_COLUMNS.map(() => "?").join(", ")})`;

// The params column is encoded as drizzle does (JSON.stringify), but the schemas inside it
// (tools, text.format) reuse the text their checks already made. Only there: a replacer slows
// JSON.stringify down for columns that hold no schema.
const INSERT_ENCODERS = INSERT_COLUMNS.map(([key, column]) => ({
  key,
  column,
  encode:
    key === "params" && is(column, SQLiteTextJson)
      ? stringifyReusingTexts
      : (value: unknown) => column.mapToDriverValue(value),
}));

function toInsertValues(row: NewResponseRow): unknown[] {
  const fields = row as Record<string, unknown>;
  return INSERT_ENCODERS.map(({ key, column, encode }) => {
    const value = fields[key] === undefined ? column.default : fields[key];
    return value === undefined || value === null ? null : encode(value);
  });
}

export function createResponseStore(db: Db): ResponseStore {
  const insertStatement = db.$client.prepare(INSERT_SQL);
  const durableInserts = createGroupCommit<unknown[]>(db.$client, (values) =>
    insertStatement.run(values),
  );
  // The executor reads and finishes a row per background response: prepared once, not rebuilt.
  const findStatement = db
    .select()
    .from(responses)
    .where(
      and(
        eq(responses.id, sql.placeholder("id")),
        eq(responses.projectId, sql.placeholder("projectId")),
      ),
    )
    .prepare();
  const findByIdStatement = db
    .select()
    .from(responses)
    .where(eq(responses.id, sql.placeholder("id")))
    .prepare();
  const finishStatement = db
    .update(responses)
    .set({
      status: sql`${sql.placeholder("status")}`,
      completedAt: sql`${sql.placeholder("completedAt")}`,
      output: sql`${sql.placeholder("output")}`,
      usage: sql`${sql.placeholder("usage")}`,
      error: sql`${sql.placeholder("error")}`,
      incompleteDetails: sql`${sql.placeholder("incompleteDetails")}`,
    })
    .where(and(eq(responses.id, sql.placeholder("id")), inArray(responses.status, ACTIVE)))
    .prepare();
  const json = (value: unknown) =>
    value === null || value === undefined ? null : JSON.stringify(value);
  return {
    insert(row) {
      insertStatement.run(toInsertValues(row));
    },
    insertDurably(row) {
      return durableInserts.add(toInsertValues(row));
    },
    find(projectId, id) {
      return findStatement.get({ id, projectId });
    },
    findById(id) {
      return findByIdStatement.get({ id });
    },
    delete(projectId, id) {
      const result = db
        .delete(responses)
        .where(and(eq(responses.id, id), eq(responses.projectId, projectId)))
        .run();
      return result.changes > 0;
    },
    markInProgress(ids) {
      db.update(responses)
        .set({ status: "in_progress" })
        .where(and(inArray(responses.id, [...ids]), eq(responses.status, "queued")))
        .run();
    },
    finish(id, outcome) {
      // Placeholders skip drizzle's column mapping, so the JSON columns are encoded here.
      const result = finishStatement.run({
        id,
        status: outcome.status,
        completedAt: outcome.completedAt ?? null,
        output: json(outcome.output),
        usage: json(outcome.usage),
        error: json(outcome.error),
        incompleteDetails: json(outcome.incompleteDetails),
      });
      return result.changes > 0;
    },
    cancel(id) {
      const result = db
        .update(responses)
        .set({ status: "cancelled" })
        .where(and(eq(responses.id, id), inArray(responses.status, ACTIVE)))
        .run();
      return result.changes > 0;
    },
  };
}
