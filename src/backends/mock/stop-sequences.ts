/**
 * The text up to (not including) the earliest stop sequence, as a model stops when it writes
 * one; `isCut` says whether one occurred.
 */
export function cutAtStopSequence(
  text: string,
  stops: readonly string[],
): { text: string; isCut: boolean } {
  let end = -1;
  for (const stop of stops) {
    if (stop === "") {
      continue;
    }
    const at = text.indexOf(stop);
    if (at >= 0 && (end < 0 || at < end)) {
      end = at;
    }
  }
  return end < 0 ? { text, isCut: false } : { text: text.slice(0, end), isCut: true };
}
