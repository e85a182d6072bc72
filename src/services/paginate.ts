import { ApiError } from "../lib/api-error.js";

/** OpenAI's list query: `after`/`before` are object ids, `order` is by creation. */
export interface PageQuery {
  readonly limit: number;
  readonly order: "asc" | "desc";
  readonly after?: string | undefined;
  readonly before?: string | undefined;
}

/** OpenAI's list object. `has_more` is always present: the node SDK reads a missing one as false. */
export interface Page<T> {
  object: "list";
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

export function toPage<T extends { id: string }>(data: T[], hasMore: boolean): Page<T> {
  return {
    object: "list",
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: hasMore,
  };
}

/**
 * Pages through a small list held in memory (the input items of one response), stored oldest
 * first. `after` and `before` refer to ids in the requested order; an id not in the list is a
 * 400 naming the cursor.
 */
export function paginateById<T extends { id: string }>(
  itemsOldestFirst: readonly T[],
  query: PageQuery,
  kind: string,
): Page<T> {
  const ordered = query.order === "desc" ? [...itemsOldestFirst].reverse() : [...itemsOldestFirst];
  let start = 0;
  let end = ordered.length;
  if (query.after !== undefined) {
    start = indexOrThrow(ordered, query.after, "after", kind) + 1;
  }
  if (query.before !== undefined) {
    end = indexOrThrow(ordered, query.before, "before", kind);
  }
  if (end <= start) {
    return toPage([], false);
  }
  if (query.before !== undefined && query.after === undefined) {
    // `before` pages backwards: the `limit` items just before the cursor, in the same order.
    const from = Math.max(start, end - query.limit);
    return toPage(ordered.slice(from, end), from > start);
  }
  const data = ordered.slice(start, Math.min(end, start + query.limit));
  return toPage(data, start + query.limit < end);
}

function indexOrThrow<T extends { id: string }>(
  items: readonly T[],
  id: string,
  param: string,
  kind: string,
): number {
  const index = items.findIndex((item) => item.id === id);
  if (index === -1) {
    throw ApiError.invalid(
      param,
      `No ${kind} with id '${id}' in this list; '${param}' must be the id of one.`,
    );
  }
  return index;
}
