/**
 * How deeply arrays and objects may nest in JSON that ferry accepts (request bodies, batch lines).
 * `JSON.parse` reads any depth, but `JSON.stringify` recurses and overflows the stack a few
 * thousand levels down, so a value nested 10,000 deep would parse, pass validation (inside a
 * free-form field such as a tool's `parameters`) and then crash the write that stores it. Real
 * requests stay far below this: a JSON schema with ten levels of properties is about 25.
 */
export const MAX_JSON_DEPTH = 100;

/**
 * Whether `text`, which must already be valid JSON, nests arrays and objects more than
 * `maxDepth` levels deep. One pass over the characters, skipping the insides of strings.
 */
export function isJsonNestedDeeperThan(text: string, maxDepth = MAX_JSON_DEPTH): boolean {
  if (text.length <= maxDepth) {
    return false; // each level takes at least one character
  }
  let depth = 0;
  let isInString = false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (isInString) {
      if (code === BACKSLASH) {
        index++; // the escaped character, which may be a quote
      } else if (code === QUOTE) {
        isInString = false;
      }
    } else if (code === QUOTE) {
      isInString = true;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      depth++;
      if (depth > maxDepth) {
        return true;
      }
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether a parsed JSON value nests arrays and objects more than `maxDepth` levels deep: the
 * same answer as isJsonNestedDeeperThan on its text, from the value instead. A request body is
 * parsed anyway, and its values are far fewer than its characters. The recursion stops one
 * level past `maxDepth`, so any depth is safe to ask about.
 */
export function isValueNestedDeeperThan(value: unknown, maxDepth = MAX_JSON_DEPTH): boolean {
  return typeof value === "object" && value !== null && nestsDeeper(value, maxDepth - 1);
}

/** Whether `container` holds an array or object nested more than `levelsLeft` further levels. */
function nestsDeeper(container: object, levelsLeft: number): boolean {
  if (levelsLeft < 0) {
    return true;
  }
  if (Array.isArray(container)) {
    for (const child of container) {
      if (typeof child === "object" && child !== null && nestsDeeper(child, levelsLeft - 1)) {
        return true;
      }
    }
    return false;
  }
  for (const key in container) {
    const child = (container as Record<string, unknown>)[key];
    if (typeof child === "object" && child !== null && nestsDeeper(child, levelsLeft - 1)) {
      return true;
    }
  }
  return false;
}
