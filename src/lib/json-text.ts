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

/**
 * Makes `value` safe to share between requests and cheap to write out again: deep-frozen, with
 * its text remembered, and its children's that are objects (a request's `tools` array and each
 * tool; its `text` and the format inside, which a Response nests one level down in a fresh
 * `text` object). For values that many requests carry unchanged (json-member-cache.ts).
 */
export function shareJsonValue<T extends object>(value: T): T {
  deepFreeze(value);
  texts.set(value, JSON.stringify(value));
  for (const inner of Object.values(value)) {
    if (typeof inner === "object" && inner !== null && !texts.has(inner)) {
      texts.set(inner, JSON.stringify(inner));
    }
  }
  return value;
}

// What goes where a known text goes; spliced out afterwards. A string or key in the value that
// spells it too is caught by the count (and the value is then encoded plainly).
const PLACEHOLDER = "\u0000ferry-json-text\u0000";
const QUOTED_PLACEHOLDER = JSON.stringify(PLACEHOLDER);

// How far down stringifyReusingTexts looks for known texts: a Response's or a stored row's
// `tools` (one level down) and `text.format` (two). Looking further would cost a walk of the
// whole value (output items and all) on every call.
const REUSE_LEVELS = 2;

/**
 * `JSON.stringify(value)`, character for character, but objects in the first two levels of it
 * whose text is already known (see jsonTextOf, shareJsonValue) are not encoded again: a
 * Response or a stored row that holds a request's tools pays only for what is around them.
 * No replacer: one would slow JSON.stringify down on every node of the value.
 */
export function stringifyReusingTexts(value: unknown): string {
  const own = typeof value === "object" && value !== null ? texts.get(value) : undefined;
  if (own !== undefined) {
    return own;
  }
  const known: string[] = [];
  const substituted = substituteKnownTexts(value, known, REUSE_LEVELS);
  if (known.length === 0) {
    return JSON.stringify(value);
  }
  const around = JSON.stringify(substituted).split(QUOTED_PLACEHOLDER);
  if (around.length !== known.length + 1) {
    return JSON.stringify(value);
  }
  let result = around[0] ?? "";
  for (let index = 0; index < known.length; index++) {
    result += known[index] + (around[index + 1] ?? "");
  }
  return result;
}

/**
 * A shallow copy of `value` with each known object in its first `levels` levels replaced by the
 * placeholder (their texts pushed onto `known` in the order JSON.stringify writes them), or
 * `value` itself when nothing is known. Only plain objects are looked into: a copy of anything
 * else could encode differently (a class's toJSON).
 */
function substituteKnownTexts(value: unknown, known: string[], levels: number): unknown {
  if (levels === 0 || !isPlainObject(value)) {
    return value;
  }
  let copy: Record<string, unknown> | null = null;
  // for-in, not Object.entries: no array per object on the hot path (a plain object has no
  // enumerable inherited keys, and for-in lists own keys in JSON.stringify's order).
  for (const key in value) {
    const inner = value[key];
    if (typeof inner !== "object" || inner === null) {
      continue;
    }
    const innerText = texts.get(inner);
    let replacement: unknown;
    if (innerText !== undefined) {
      known.push(innerText);
      replacement = PLACEHOLDER;
    } else {
      replacement = substituteKnownTexts(inner, known, levels - 1);
      if (replacement === inner) {
        continue;
      }
    }
    copy ??= { ...value };
    if (key === "__proto__") {
      // A JSON "__proto__" key is an own property; assigning it would set the prototype instead.
      Object.defineProperty(copy, key, { value: replacement, enumerable: true, writable: true });
    } else {
      copy[key] = replacement;
    }
  }
  return copy ?? value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return false;
  }
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
