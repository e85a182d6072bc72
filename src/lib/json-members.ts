/**
 * Splits the text of a JSON object into its top-level members without parsing their values, so
 * a caller can recognise a member it has seen before by its text (see json-member-cache.ts).
 *
 * Only the top level is checked (braces, keys, colons, commas, whitespace); a value is found by
 * skipping strings and matching brackets, and is not validated: whatever is left of the text
 * still goes to JSON.parse. Anything the split cannot take simply (a key with an escape, a key
 * twice, a byte order mark, trailing text) is null, and the caller parses the whole text.
 */

export interface JsonMember {
  readonly key: string;
  /** Where the member's key (its opening quote) starts. */
  readonly start: number;
  /** Where its value starts; the value is text.slice(valueStart, end). */
  readonly valueStart: number;
  readonly end: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * `knownValueEnd`: where a value the caller recognises at `valueStart` ends, or -1; a value it
 * recognises is not scanned (the caller must know it is a whole JSON value: the split checks
 * only that a separator follows).
 */
export function splitJsonObjectMembers(
  text: string,
  knownValueEnd?: (key: string, valueStart: number) => number,
): JsonMember[] | null {
  let index = skipWhitespace(text, 0);
  if (text.charCodeAt(index) !== OPEN_BRACE) {
    return null;
  }
  const members: JsonMember[] = [];
  const keys = new Set<string>();
  index = skipWhitespace(text, index + 1);
  if (text.charCodeAt(index) === CLOSE_BRACE) {
    return skipWhitespace(text, index + 1) === text.length ? members : null;
  }
  for (;;) {
    if (text.charCodeAt(index) !== QUOTE) {
      return null;
    }
    const start = index;
    const keyEnd = text.indexOf('"', index + 1);
    if (keyEnd < 0) {
      return null;
    }
    const key = text.slice(index + 1, keyEnd);
    // An escape could spell a key another way (or hide its closing quote); JSON.parse keeps the
    // last of a repeated key. Both are left to the plain parse.
    if (key.includes("\\") || keys.has(key)) {
      return null;
    }
    keys.add(key);
    index = skipWhitespace(text, keyEnd + 1);
    if (text.charCodeAt(index) !== COLON) {
      return null;
    }
    const valueStart = skipWhitespace(text, index + 1);
    const known = knownValueEnd === undefined ? -1 : knownValueEnd(key, valueStart);
    const end = known >= 0 ? known : skipValue(text, valueStart);
    if (end < 0) {
      return null;
    }
    members.push({ key, start, valueStart, end });
    index = skipWhitespace(text, end);
    const next = text.charCodeAt(index);
    if (next === CLOSE_BRACE) {
      return skipWhitespace(text, index + 1) === text.length ? members : null;
    }
    if (next !== COMMA) {
      return null;
    }
    index = skipWhitespace(text, index + 1);
  }
}

/** JSON's whitespace only (space, tab, line feed, carriage return). */
function skipWhitespace(text: string, from: number): number {
  let index = from;
  for (;;) {
    const code = text.charCodeAt(index);
    if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) {
      return index;
    }
    index++;
  }
}

/** The end of the value starting at `from`, or -1 when it does not end (unclosed). */
function skipValue(text: string, from: number): number {
  const first = text.charCodeAt(from);
  if (first === QUOTE) {
    return skipString(text, from);
  }
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    // A number or a literal: up to the next separator (JSON.parse judges what it is).
    let index = from;
    while (index < text.length) {
      const code = text.charCodeAt(index);
      if (
        code === COMMA ||
        code === CLOSE_BRACE ||
        code === CLOSE_BRACKET ||
        code === 0x20 ||
        code === 0x0a ||
        code === 0x0d ||
        code === 0x09
      ) {
        break;
      }
      index++;
    }
    return index > from ? index : -1;
  }
  let depth = 0;
  for (let index = from; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === QUOTE) {
      const afterString = skipString(text, index);
      if (afterString < 0) {
        return -1;
      }
      index = afterString - 1;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      depth++;
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) {
        return index + 1;
      }
    }
  }
  return -1;
}

/** The end of the string whose opening quote is at `from` (past its closing quote), or -1. */
function skipString(text: string, from: number): number {
  let search = from + 1;
  for (;;) {
    const quote = text.indexOf('"', search);
    if (quote < 0) {
      return -1;
    }
    // Escaped when an odd number of backslashes comes before it.
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) {
      backslashes++;
    }
    if (backslashes % 2 === 0) {
      return quote + 1;
    }
    search = quote + 1;
  }
}
