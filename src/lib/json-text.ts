import { createLruCache } from "./lru-cache.js";

/**
 * Request schemas (a tool's `parameters`, a format's `schema`) encoded once. Several steps key
 * a cache on a schema (the strict-schema verdicts, Ajv's compiled validators, the mock's
 * answers) and the store writes it; a 30-property schema costs a noticeable JSON.stringify each
 * time. The parse interns each schema (internJsonObject), and the later steps reuse its text
 * (jsonTextOf, stringifyReusingTexts) or key on its id (internIdOf). WeakMaps, so an evicted
 * canonical object takes its text and id with it.
 */
const texts = new WeakMap<object, string>();
const internIds = new WeakMap<object, number>();
let lastInternId = 0;

// Distinct schemas a process keeps canonical copies of (clients send a handful, again and again).
const INTERNED_ENTRIES = 500;
// A schema longer than this is not interned: 500 of them would pin that much text each (a
// client can send a different 5 MB schema with every request), and a schema that large is
// rare enough that encoding it again costs nothing overall.
const MAX_INTERNED_CHARS = 64 * 1024;
const interned = createLruCache<string, object>(INTERNED_ENTRIES);

/**
 * The canonical copy of a parsed JSON object: the first object seen with the same JSON text,
 * deep-frozen, so requests that send the same schema share one object and every cache after
 * the parse can key on its identity (its text is known: jsonTextOf; its id: internIdOf) instead
 * of encoding it again. Frozen because it is shared: no request can change another's.
 */
export function internJsonObject<T extends object>(value: T): T {
  const text = JSON.stringify(value);
  if (text.length > MAX_INTERNED_CHARS) {
    return value;
  }
  const canonical = interned.get(text);
  if (canonical !== undefined) {
    return canonical as T;
  }
  deepFreeze(value);
  texts.set(value, text);
  internIds.set(value, ++lastInternId);
  interned.set(text, value);
  return value;
}

/**
 * A number that stands for an interned object's content in a cache key: equal ids mean equal
 * text. Never reused, so an id outlives its object in a key harmlessly. Undefined for an object
 * that was not interned.
 */
export function internIdOf(value: object): number | undefined {
  return internIds.get(value);
}

function deepFreeze(value: unknown): void {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) {
      deepFreeze(inner);
    }
    Object.freeze(value);
  }
}

export function jsonTextOf(value: object): string {
  // Only interned objects keep their text: remembering a one-off object's would cost a WeakMap
  // insert per request for nothing.
  return texts.get(value) ?? JSON.stringify(value);
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
