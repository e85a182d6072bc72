import { setImmediate as nextTurn } from "node:timers/promises";
import type { BatchLineStore } from "../store/batch-lines.js";
import type { BatchRow } from "../store/schema.js";

/** Characters of results read from the database per page (about a megabyte of JSON). */
const PAGE_CHARS = 1024 * 1024;
/** Characters per chunk handed to the response (V8 keeps strings under 128 KiB young). */
const CHUNK_CHARS = 32 * 1024;

/**
 * The native results view, `{batch_id, status, output_url, completed_at, results: [...]}`, as
 * chunks of JSON text: the lines' stored results are copied as they are (never parsed and
 * stringified again), a page at a time, so neither a 50,000-line batch nor a single huge result
 * is ever held whole. The caller stops pulling when the client goes away, and the reading stops.
 */
export async function* resultsJsonChunks(
  lines: Pick<BatchLineStore, "resultTextPages">,
  row: BatchRow,
  baseUrl: string,
): AsyncGenerator<string> {
  const head = JSON.stringify({
    batch_id: row.id,
    status: row.status,
    output_url: `${baseUrl}/v1/batches/${row.id}/results.jsonl`,
    completed_at: row.completedAt ?? row.cancelledAt ?? null,
  });
  yield `${head.slice(0, -1)},"results":[`;
  yield* textChunks(lines.resultTextPages(row.id, PAGE_CHARS), ",", "");
  yield "]}";
}

/** The same results as JSONL, one stored result per line. */
export function resultsJsonlChunks(
  lines: Pick<BatchLineStore, "resultTextPages">,
  row: BatchRow,
): AsyncGenerator<string> {
  return textChunks(lines.resultTextPages(row.id, PAGE_CHARS), "\n", "\n");
}

/**
 * Joins the texts with `separator` (and ends them with `terminator`) into chunks of about
 * CHUNK_CHARS, cutting a text longer than that into pieces rather than building one string
 * from it. Between pages it yields to the event loop: reading a page is synchronous, and other
 * requests must be served meanwhile.
 */
async function* textChunks(
  pages: IterableIterator<string[]>,
  separator: string,
  terminator: string,
): AsyncGenerator<string> {
  let pending: string[] = [];
  let pendingChars = 0;
  let isFirst = true;
  for (const page of pages) {
    for (const text of page) {
      const prefix = isFirst ? "" : separator;
      isFirst = false;
      if (text.length < CHUNK_CHARS) {
        pending.push(prefix, text);
        pendingChars += prefix.length + text.length;
        if (pendingChars >= CHUNK_CHARS) {
          yield pending.join("");
          pending = [];
          pendingChars = 0;
        }
        continue;
      }
      pending.push(prefix);
      const before = pending.join("");
      if (before !== "") {
        yield before;
      }
      pending = [];
      pendingChars = 0;
      for (let start = 0; start < text.length; start += CHUNK_CHARS) {
        yield text.slice(start, start + CHUNK_CHARS);
      }
    }
    if (pending.length > 0) {
      yield pending.join("");
      pending = [];
      pendingChars = 0;
    }
    await nextTurn();
  }
  if (!isFirst && terminator !== "") {
    yield terminator;
  }
}
