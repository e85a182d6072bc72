/** Why a line could not be turned into text. */
export type LineProblem = "too_long" | "not_utf8";

/** One line of a byte stream: its text, or why it has none. Numbers are 1-based. */
export type SplitLine =
  | { readonly line: number; readonly text: string; readonly problem?: undefined }
  | { readonly line: number; readonly text?: undefined; readonly problem: LineProblem };

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Splits UTF-8 bytes into lines at `\n` (a `\r` before it is dropped too), as JSONL is read:
 * a final newline makes no extra empty line, and a BOM before the first line is dropped.
 *
 * Unlike `readline`, a line is never held beyond `maxLineBytes` (its ending excluded): the
 * rest of a longer one is skipped as it streams by and the line comes out as `too_long`, so
 * one endless line costs no more memory than the limit. Text is decoded strictly: a line that
 * is not UTF-8 comes out as `not_utf8`, never with U+FFFD in it. Errors of `source` reject the
 * iteration (nothing is thrown from a stream callback).
 */
export async function* splitLines(
  source: AsyncIterable<Uint8Array | string>,
  options: { readonly maxLineBytes: number },
): AsyncGenerator<SplitLine> {
  // fatal: refuse what a lenient decoder would replace; ignoreBOM: keep it, so that a BOM is
  // dropped only before line 1 rather than before every line.
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const { maxLineBytes } = options;
  let pieces: Buffer[] = [];
  let pendingBytes = 0;
  let isTooLong = false;
  let line = 0;

  const finish = (): SplitLine => {
    line += 1;
    const bytes = pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
    pieces = [];
    pendingBytes = 0;
    if (isTooLong) {
      isTooLong = false;
      return { line, problem: "too_long" };
    }
    const end = bytes.at(-1) === CARRIAGE_RETURN ? bytes.length - 1 : bytes.length;
    if (end > maxLineBytes) {
      return { line, problem: "too_long" };
    }
    let text: string;
    try {
      text = decoder.decode(bytes.subarray(0, end));
    } catch {
      return { line, problem: "not_utf8" };
    }
    return { line, text: line === 1 && text.startsWith("\uFEFF") ? text.slice(1) : text };
  };

  // The bytes of the current line so far; a line past the limit keeps none, only the flag.
  const append = (segment: Buffer) => {
    if (isTooLong || segment.length === 0) {
      return;
    }
    // One byte of slack for a `\r` that may end the line.
    if (pendingBytes + segment.length > maxLineBytes + 1) {
      isTooLong = true;
      pieces = [];
      pendingBytes = 0;
      return;
    }
    pieces.push(segment);
    pendingBytes += segment.length;
  };

  for await (const chunk of source) {
    const bytes =
      typeof chunk === "string"
        ? Buffer.from(chunk, "utf8")
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (;;) {
      const end = bytes.indexOf(NEWLINE, start);
      if (end === -1) {
        append(bytes.subarray(start));
        break;
      }
      append(bytes.subarray(start, end));
      yield finish();
      start = end + 1;
    }
  }
  if (pendingBytes > 0 || isTooLong) {
    yield finish();
  }
}
