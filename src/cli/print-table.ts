/** Prints rows as columns padded to their widest cell, the header first (the CLI's lists). */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  for (const row of [header, ...rows]) {
    console.log(
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd(),
    );
  }
}

/** A unix-seconds time as ISO 8601, or "-" for none. */
export function formatTime(unixSeconds: number | null): string {
  return unixSeconds === null ? "-" : new Date(unixSeconds * 1000).toISOString();
}
