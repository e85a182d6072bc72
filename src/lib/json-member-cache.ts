import { splitJsonObjectMembers } from "./json-members.js";
import { shareJsonValue } from "./json-text.js";
import { createLruCache, type LruCache } from "./lru-cache.js";

/**
 * Request members that clients send unchanged with every request (a Responses request's
 * `tools` and `text`: five function tools and a 30-property schema are ~3.5 kB), remembered
 * by their text once validated, so a request that repeats one is parsed and validated without
 * it: JSON.parse and zod on those kilobytes were most of such a request's cost, and everything
 * after the parse keys on the shared value (its schemas are interned, its text is known for
 * the Response and the stored row: json-text.ts).
 *
 * A member's validated value depends on its text alone (the body schema has no rule across
 * fields), and a remembered text is valid JSON, so parsing and validating the rest of the body
 * gives what the whole would have, the same errors included. Only a body whose top level
 * splits simply is looked at (json-members.ts); any other is parsed whole, as before.
 */

export interface JsonMemberCacheOptions {
  /** The members to remember, by key. */
  readonly keys: readonly string[];
  /**
   * The body schema's keys in order (a strict object's: no others can be in a validated body):
   * zod lists a validated body's keys in this order, and so does `assemble`.
   */
  readonly keyOrder: readonly string[];
  /** Distinct starts of texts remembered per key. */
  readonly prefixes?: number;
}

/** What a body's split found: the remembered members, and the text of the rest. */
export interface ReusedMembers {
  /** The body without its remembered members; null when none was remembered (parse the whole). */
  readonly rest: string | null;
  /** The validated body: the rest's, with the remembered members put back in their place. */
  assemble(validatedRest: Record<string, unknown>): Record<string, unknown>;
  /** Remembers the members not seen before, from the validated body they were part of. */
  remember(validated: Record<string, unknown>): void;
}

export interface JsonMemberCache {
  /** null when the body is too small to bother, does not split, or has none of the keys. */
  split(text: string): ReusedMembers | null;
}

// Below these a member parses about as fast as it is looked up. Above MAX_BODY_CHARS the body is
// mostly input (a long document), which the top-level scan would walk for nothing.
const MIN_BODY_CHARS = 512;
const MAX_BODY_CHARS = 1024 * 1024;
const MIN_MEMBER_CHARS = 256;
// A client can send a different 5 MB of tools with every request: not kept (see json-text.ts).
// A typical member (5 tools, a 30-property schema) is ~4 kB.
const MAX_MEMBER_CHARS = 16 * 1024;
// A remembered text is found by its first characters (a short key to hash: hashing the whole
// text costs ~5 ns a character, about as much as parsing it), then compared whole, in place.
// Texts sharing a start (the same first tools, then others) are kept a few per start.
const PREFIX_CHARS = 128;
// At most 64 starts × 4 texts per key, each kept as its text, its parsed value and the JSON
// text of the value and of each of its children (json-text.ts): about 4 × 16 kB of characters
// (8 bytes each when not Latin-1) plus the objects, so some 25 to 50 MB per key worst case, and
// a client's few tool sets in practice. A client that fills it only costs others their hits.
const TEXTS_PER_PREFIX = 4;
const PREFIXES_PER_KEY = 64;

interface Remembered {
  readonly text: string;
  readonly value: object;
}

export function createJsonMemberCache(options: JsonMemberCacheOptions): JsonMemberCache {
  const caches = new Map<string, LruCache<string, Remembered[]>>(
    options.keys.map((key) => [
      key,
      createLruCache<string, Remembered[]>(options.prefixes ?? PREFIXES_PER_KEY),
    ]),
  );
  const quotedKeys = options.keys.map((key) => JSON.stringify(key));

  return {
    split(text) {
      if (
        text.length < MIN_BODY_CHARS ||
        text.length > MAX_BODY_CHARS ||
        !quotedKeys.some((key) => text.includes(key))
      ) {
        return null;
      }
      const reused = new Map<string, object>();
      const members = splitJsonObjectMembers(text, (key, valueStart) => {
        const candidates = caches.get(key)?.get(text.slice(valueStart, valueStart + PREFIX_CHARS));
        for (const candidate of candidates ?? []) {
          // A slice and ===: a flat compare of the characters, without hashing either string.
          if (text.slice(valueStart, valueStart + candidate.text.length) === candidate.text) {
            reused.set(key, candidate.value);
            return valueStart + candidate.text.length;
          }
        }
        return -1;
      });
      if (members === null) {
        return null;
      }
      const unseen = members.filter((member) => {
        const length = member.end - member.valueStart;
        return (
          caches.has(member.key) &&
          !reused.has(member.key) &&
          length >= MIN_MEMBER_CHARS &&
          length <= MAX_MEMBER_CHARS
        );
      });
      if (reused.size === 0 && unseen.length === 0) {
        return null;
      }
      const rest =
        reused.size === 0
          ? null
          : `{${members
              .filter((member) => !reused.has(member.key))
              .map((member) => text.slice(member.start, member.end))
              .join(",")}}`;
      return {
        rest,
        assemble(validatedRest) {
          const body: Record<string, unknown> = {};
          for (const key of options.keyOrder) {
            const value = reused.get(key);
            if (value !== undefined) {
              body[key] = value;
            } else if (Object.hasOwn(validatedRest, key)) {
              body[key] = validatedRest[key];
            }
          }
          return body;
        },
        remember(validated) {
          for (const member of unseen) {
            const value = validated[member.key];
            const cache = caches.get(member.key);
            if (typeof value !== "object" || value === null || cache === undefined) {
              continue;
            }
            const memberText = copyOf(text.slice(member.valueStart, member.end));
            const prefix = memberText.slice(0, PREFIX_CHARS);
            const candidates = cache.get(prefix) ?? [];
            candidates.unshift({ text: memberText, value: shareJsonValue(value) });
            if (candidates.length > TEXTS_PER_PREFIX) {
              candidates.pop();
            }
            cache.set(prefix, candidates);
          }
        },
      };
    },
  };
}

/**
 * A string of its own: a slice may point into the whole body it came from, which a remembered
 * text would then keep alive (a 64 kB member of a 20 MB body).
 */
function copyOf(slice: string): string {
  return Buffer.from(slice, "utf8").toString("utf8");
}
