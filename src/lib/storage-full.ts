/**
 * Whether `err` (or an error it wraps, through `cause`) means the data dir has no room left:
 * SQLite's SQLITE_FULL (the WAL or the database file could not grow) or node:fs's ENOSPC and
 * EDQUOT (a file's bytes). Retrying does not help until an operator frees space.
 */
export function isStorageFullError(err: unknown): boolean {
  for (let current = err, depth = 0; current instanceof Error && depth < 8; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && STORAGE_FULL_CODES.has(code)) {
      return true;
    }
    current = current.cause;
  }
  return false;
}

const STORAGE_FULL_CODES = new Set(["SQLITE_FULL", "ENOSPC", "EDQUOT"]);
