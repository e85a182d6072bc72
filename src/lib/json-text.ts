/**
 * The JSON text of a parsed request's objects (a tool's `parameters`, a format's `schema`),
 * computed once per object. Several steps key a cache on a schema's text (the strict-schema
 * verdicts, Ajv's compiled validators, the mock's answers), and a 30-property schema costs a
 * noticeable JSON.stringify each time; keyed by identity, the text is made once per request.
 *
 * Only for values nobody mutates after the first call (request bodies once validated): a
 * mutated object would keep its old text. A WeakMap, so the texts go with their requests.
 */
const texts = new WeakMap<object, string>();

export function jsonTextOf(value: object): string {
  let text = texts.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    texts.set(value, text);
  }
  return text;
}

// What the replacer puts where a known text goes; spliced out afterwards. A string or key in the
// value that spells it too is caught by the count (and the value is then encoded plainly).
const PLACEHOLDER = "\u0000ferry-json-text\u0000";
const QUOTED_PLACEHOLDER = JSON.stringify(PLACEHOLDER);

/**
 * `JSON.stringify(value)`, character for character, but objects inside it whose text is already
 * known (see jsonTextOf) are not encoded again: a request's key or a stored row that holds its
 * tools' schemas pays only for what is around them.
 */
export function stringifyReusingTexts(value: unknown): string {
  const known: string[] = [];
  const text = JSON.stringify(value, (_key, inner: unknown) => {
    if (typeof inner === "object" && inner !== null) {
      const innerText = texts.get(inner);
      if (innerText !== undefined) {
        known.push(innerText);
        return PLACEHOLDER;
      }
    }
    return inner;
  });
  if (known.length === 0) {
    return text;
  }
  const around = text.split(QUOTED_PLACEHOLDER);
  if (around.length !== known.length + 1) {
    return JSON.stringify(value);
  }
  let result = around[0] ?? "";
  for (let index = 0; index < known.length; index++) {
    result += known[index] + (around[index + 1] ?? "");
  }
  return result;
}
