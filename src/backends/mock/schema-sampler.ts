import randexpModule from "randexp";
import {
  compileJsonSchema,
  describeValidationErrors,
  type JsonSchemaValidator,
} from "../../lib/json-schema-validator.js";
import { linearRegExp } from "../../lib/linear-regexp.js";
import { createSeededRandom, type SeededRandom } from "./seeded-random.js";

/**
 * A deterministic JSON value for a JSON Schema: what the mock writes as a tool call's arguments
 * or as a json_schema answer. Same schema, seed and hints, same value; and the value always
 * validates against the schema (every sample is checked with Ajv, and a failed one is drawn
 * again with a derived seed, so keywords the sampler does not model, like `not`, cost a retry
 * rather than a wrong answer).
 *
 * `hints` are the words of the conversation's last user message: a string takes them when they
 * fit (a "city" takes a capitalised word such as "Paris", an enum takes a value the user named,
 * a "query" takes the user's words), so a test can tell the value came from its prompt.
 *
 * Written rather than taken from json-schema-faker: that library has a seed but no way to steer
 * a value from the conversation, and it does not check its own output.
 */

export interface SampleOptions {
  /** Equal seeds give equal values. */
  readonly seed: string;
  /** Words of the last user message, in order. */
  readonly hints: readonly string[];
}

export class SchemaSampleError extends Error {
  override readonly name = "SchemaSampleError";
}

/** The schema asks for a value larger than the mock writes: no retry would help. */
class SchemaTooLargeError extends SchemaSampleError {}

/**
 * How big a sampled value may be, in characters of strings plus array items plus object
 * properties. `minItems: 1e9` (or `minLength`, `minProperties`), or arrays of arrays that
 * multiply, would otherwise build a value until V8 aborts the whole process ("invalid size
 * error"): a 400 instead. 50,000 is far above any real tool call or JSON answer, and its
 * tokenizing stays within ~50 ms of the event loop.
 */
export const MAX_SAMPLE_UNITS = 50_000;

type Schema = Readonly<Record<string, unknown>> | boolean;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** How many `$ref`s deep a value may nest before the sampler takes the shortest way out. */
const MAX_REF_DEPTH = 3;
/** Beyond this nesting a schema that forces recursion (a required self-reference) is refused. */
const MAX_NESTING = 40;
const MAX_ATTEMPTS = 12;

export function sampleJson(schema: Schema, options: SampleOptions): Json {
  let validate: JsonSchemaValidator;
  try {
    validate = compileJsonSchema(schema);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SchemaSampleError(`The schema does not compile (${reason}).`);
  }
  let lastProblem = "";
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const seed = attempt === 0 ? options.seed : `${options.seed}\u0000retry ${attempt}`;
    const sampler = new Sampler(schema, createSeededRandom(seed), options.hints, attempt);
    let value: Json;
    try {
      value = sampler.sample(schema, "", 0, 0);
    } catch (error) {
      if (!(error instanceof SchemaSampleError)) {
        throw error;
      }
      lastProblem = error.message;
      if (error instanceof SchemaTooLargeError) {
        break;
      }
      continue;
    }
    if (validate(value)) {
      return value;
    }
    lastProblem = describeValidationErrors(validate);
  }
  throw new SchemaSampleError(
    `The mock backend found no value that satisfies the schema (${lastProblem}).`,
  );
}

/** The words of a text, in order, as `sampleJson` takes them for hints. */
export function hintWords(text: string): string[] {
  return text.match(/[\p{L}\p{N}][\p{L}\p{N}'’-]*/gu)?.slice(0, 200) ?? [];
}

const LOCATION_NAME = /city|location|place|town|destination|origin|country|region|address|where/i;
const PERSON_NAME = /(^|_)(name|author|user|person|owner|assignee|recipient)$|Name$/;
const FREE_TEXT =
  /query|search|^q$|topic|keyword|term|subject|prompt|question|text|message|content|input|description|summary|answer|reason|comment|note|body|title/i;

const PLACE_PREPOSITIONS = new Set(["in", "at", "near", "to", "from"]);
const DEFAULT_PLACES = ["Paris", "Tokyo", "Lisbon", "Nairobi", "Toronto", "Sydney"];
const DEFAULT_PEOPLE = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Katherine Johnson"];
const DEFAULT_WORDS = ["alpha", "beacon", "harbor", "meadow", "signal", "summit", "willow"];
const HINT_STOPWORDS = new Set(
  (
    "the a an and or of to in on at for by with from is are was were be what whats what's how " +
    "please can could would should will you me my i it this that these those there here get " +
    "tell give show find use call check about into over also just some any"
  ).split(" "),
);

class Sampler {
  private places: string[];
  private readonly keywords: string[];
  private spent = 0;

  constructor(
    private readonly root: Schema,
    private readonly random: SeededRandom,
    private readonly hints: readonly string[],
    private readonly attempt: number,
  ) {
    // A capitalised word after the first is most likely a name ("weather in Paris").
    this.places = hints.filter(
      (word, index) =>
        index > 0 && /^\p{Lu}/u.test(word) && !HINT_STOPWORDS.has(word.toLowerCase()),
    );
    // Written in lower case, a place still follows "in", "at", "near", "to" or "from".
    if (this.places.length === 0) {
      this.places = hints
        .filter((_, index) => PLACE_PREPOSITIONS.has(hints[index - 1]?.toLowerCase() ?? ""))
        .filter((word) => /^\p{L}{3,}$/u.test(word) && !HINT_STOPWORDS.has(word.toLowerCase()))
        .map((word) => word.charAt(0).toUpperCase() + word.slice(1));
    }
    this.keywords = hints.filter(
      (word) => word.length >= 3 && !HINT_STOPWORDS.has(word.toLowerCase()),
    );
  }

  /** Counts `units` against MAX_SAMPLE_UNITS; `what` names the keyword that asked for them. */
  private spend(units: number, what: string): void {
    this.spent += units;
    if (this.spent > MAX_SAMPLE_UNITS) {
      throw new SchemaTooLargeError(
        `${what} asks for a value larger than the mock writes (over ${MAX_SAMPLE_UNITS} characters, items and properties in all); lower it`,
      );
    }
  }

  private pick<T>(pool: readonly T[]): T {
    const value = pool[this.random.int(pool.length)];
    if (value === undefined) {
      throw new SchemaSampleError("nothing to choose from");
    }
    return value;
  }

  /**
   * `refDepth` counts the `$ref`s expanded on the way here; past MAX_REF_DEPTH the sampler is
   * "shallow": optional properties are left out, arrays are as short as allowed and a union
   * takes its least nested branch, so a recursive schema ends.
   */
  sample(schema: Schema, name: string, refDepth: number, nesting: number): Json {
    if (nesting > MAX_NESTING) {
      throw new SchemaSampleError("the schema nests without end");
    }
    if (schema === true) {
      return this.sampleString({}, name);
    }
    if (schema === false) {
      throw new SchemaSampleError("a false schema admits no value");
    }
    const shallow = refDepth > MAX_REF_DEPTH;
    if (typeof schema.$ref === "string") {
      const target = this.resolve(schema.$ref);
      const siblings = withoutKeys(schema, ["$ref"]);
      const merged = hasConstraints(siblings) ? mergeSchemas([target, siblings]) : target;
      return this.sample(merged, name, refDepth + 1, nesting + 1);
    }
    if (Array.isArray(schema.allOf) && schema.allOf.length > 0) {
      const members = (schema.allOf as Schema[]).map((member) => this.deref(member));
      return this.sample(
        mergeSchemas([withoutKeys(schema, ["allOf"]), ...members]),
        name,
        refDepth,
        nesting + 1,
      );
    }
    const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
    if (Array.isArray(union) && union.length > 0) {
      const branch = shallow ? this.leastNested(union) : this.pick(union);
      const rest = withoutKeys(schema, ["anyOf", "oneOf"]);
      const chosen = hasConstraints(rest) ? mergeSchemas([rest, this.deref(branch)]) : branch;
      return this.sample(chosen, name, refDepth, nesting + 1);
    }
    if ("const" in schema) {
      return schema.const as Json;
    }
    if (Array.isArray(schema.enum)) {
      return this.sampleEnum(schema.enum as Json[]);
    }
    switch (this.chooseType(schema, shallow)) {
      case "null":
        return null;
      case "boolean":
        return this.random.next() < 0.5;
      case "integer":
        return this.sampleNumber(schema, true);
      case "number":
        return this.sampleNumber(schema, false);
      case "string":
        return this.sampleString(schema, name);
      case "array":
        return this.sampleArray(schema, name, refDepth, nesting);
      default:
        return this.sampleObject(schema, refDepth, nesting);
    }
  }

  private resolve(ref: string): Schema {
    if (!ref.startsWith("#")) {
      throw new SchemaSampleError(`cannot follow the non-local $ref '${ref}'`);
    }
    let node: unknown = this.root;
    for (const raw of ref.slice(1).split("/").slice(1)) {
      const key = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
      // Own keys only: `#/__proto__` or `#/constructor` must not reach Object.prototype.
      node =
        typeof node === "object" && node !== null && Object.hasOwn(node, key)
          ? (node as Record<string, unknown>)[key]
          : undefined;
    }
    if (typeof node !== "boolean" && (typeof node !== "object" || node === null)) {
      throw new SchemaSampleError(`the $ref '${ref}' points at nothing`);
    }
    return node as Schema;
  }

  private deref(schema: Schema): Schema {
    let current = schema;
    for (
      let hops = 0;
      hops < 16 && typeof current === "object" && typeof current.$ref === "string";
      hops++
    ) {
      const siblings = withoutKeys(current, ["$ref"]);
      const target = this.resolve(current.$ref);
      current = hasConstraints(siblings) ? mergeSchemas([target, siblings]) : target;
    }
    return current;
  }

  /** The union branch least likely to recurse: null first, then scalars, then anything. */
  private leastNested(branches: readonly Schema[]): Schema {
    let best = branches[0] as Schema;
    let bestCost = Number.POSITIVE_INFINITY;
    for (const branch of branches) {
      const cost = nestingCost(branch);
      if (cost < bestCost) {
        best = branch;
        bestCost = cost;
      }
    }
    return best;
  }

  private sampleEnum(values: readonly Json[]): Json {
    if (values.length === 0) {
      throw new SchemaSampleError("an empty enum admits no value");
    }
    // A value the user named ("in celsius") is the one a model would pick.
    const lowerHints = new Set(this.hints.map((word) => word.toLowerCase()));
    const named = values.filter(
      (value) => typeof value === "string" && lowerHints.has(value.toLowerCase()),
    );
    return this.pick(named.length > 0 ? named : values);
  }

  private chooseType(schema: Readonly<Record<string, unknown>>, shallow: boolean): string {
    const declared = schema.type;
    if (typeof declared === "string") {
      return declared;
    }
    if (Array.isArray(declared) && declared.length > 0) {
      const types = declared as string[];
      const concrete = types.filter((type) => type !== "null");
      if (
        concrete.length === 0 ||
        (types.includes("null") && (shallow || this.random.next() < 0.2))
      ) {
        return "null";
      }
      return this.pick(concrete);
    }
    return inferType(schema);
  }

  private sampleNumber(schema: Readonly<Record<string, unknown>>, isInteger: boolean): number {
    const bounds = numberBounds(schema);
    const step =
      typeof schema.multipleOf === "number" && schema.multipleOf > 0 ? schema.multipleOf : null;
    if (isInteger || step !== null) {
      const unit = step === null ? 1 : isInteger ? lcmWithIntegers(step) : step;
      let low = Math.ceil(bounds.low / unit);
      let high = Math.floor(bounds.high / unit);
      if (bounds.lowExclusive && low * unit <= bounds.low) {
        low++;
      }
      if (bounds.highExclusive && high * unit >= bounds.high) {
        high--;
      }
      if (low > high) {
        throw new SchemaSampleError("no number fits the bounds");
      }
      // k * step can miss by a rounding error (0.1 * 3); Ajv then sees a non-multiple, so
      // candidates are tried until one divides exactly as Ajv checks it.
      const start = low + this.random.int(Math.min(high - low, 1_000_000) + 1);
      for (let offset = 0; offset <= Math.min(high - low, 64); offset++) {
        const k = low + ((start - low + offset) % (high - low + 1));
        const value = roundToStep(k * unit, unit);
        if (
          isMultiple(value, step) &&
          (!isInteger || Number.isInteger(value)) &&
          withinBounds(value, bounds)
        ) {
          return value;
        }
      }
      throw new SchemaSampleError("no multiple fits the bounds");
    }
    const span = bounds.high - bounds.low;
    for (let tries = 0; tries < 8; tries++) {
      const value = Math.round((bounds.low + this.random.next() * span) * 100) / 100;
      if (withinBounds(value, bounds)) {
        return value;
      }
    }
    const middle = bounds.low + span / 2;
    if (withinBounds(middle, bounds)) {
      return middle;
    }
    throw new SchemaSampleError("no number fits the bounds");
  }

  private sampleString(schema: Readonly<Record<string, unknown>>, name: string): string {
    const minLength = typeof schema.minLength === "number" ? schema.minLength : 0;
    this.spend(minLength, `'minLength' ${minLength}`);
    const maxLength =
      typeof schema.maxLength === "number" ? schema.maxLength : Number.POSITIVE_INFINITY;
    const format = typeof schema.format === "string" ? schema.format : null;
    const pattern = typeof schema.pattern === "string" ? schema.pattern : null;
    const fits = (value: string) => {
      const length = [...value].length;
      return length >= minLength && length <= maxLength;
    };
    if (pattern !== null) {
      // A format's own value is more natural than a regex's, when the pattern admits it (zod
      // writes both for an email or a datetime).
      const formatted = format === null ? null : this.fromFormat(format, name);
      if (formatted !== null && fits(formatted) && linearRegExp(pattern, "u").test(formatted)) {
        return formatted;
      }
      for (let tries = 0; tries < 8; tries++) {
        const value = this.fromPattern(pattern, maxLength);
        // With a format too, Ajv checks both; the retry loop settles the format.
        if (fits(value)) {
          return value;
        }
      }
      throw new SchemaSampleError(`no string of the pattern fits the length bounds`);
    }
    if (format !== null) {
      const value = this.fromFormat(format, name);
      if (value !== null) {
        return fitLength(value, minLength, maxLength, false);
      }
    }
    // Later attempts (a retry after a failed validation) drop the hints, which may not fit.
    const value = this.attempt < 4 ? this.fromName(name) : this.pick(DEFAULT_WORDS);
    return fitLength(value, minLength, maxLength, true);
  }

  private fromPattern(pattern: string, maxLength: number): string {
    // randexp writes every repetition of `a{1000000000}` before the length is checked.
    for (const bound of pattern.matchAll(/\{(\d+)/g)) {
      this.spend(Number(bound[1]), `The pattern's repetition {${bound[1]}}`);
    }
    const generator = patternGenerator(pattern);
    generator.max = Number.isFinite(maxLength) ? Math.max(1, Math.min(8, maxLength)) : 8;
    generator.randInt = (low: number, high: number) => low + this.random.int(high - low + 1);
    return generator.gen();
  }

  private fromFormat(format: string, name: string): string | null {
    const random = this.random;
    const two = (n: number) => String(n).padStart(2, "0");
    const date = () =>
      `${2024 + random.int(3)}-${two(1 + random.int(12))}-${two(1 + random.int(28))}`;
    const time = () => `${two(random.int(24))}:${two(random.int(60))}:${two(random.int(60))}`;
    const word = () => this.slug(name);
    switch (format) {
      case "date-time":
      case "iso-date-time":
        return `${date()}T${time()}Z`;
      case "date":
        return date();
      case "time":
      case "iso-time":
        return `${time()}Z`;
      case "duration":
        return this.pick(["PT15M", "PT1H30M", "P1D", "P2W", "PT45S", "P1DT12H"]);
      case "email":
      case "idn-email":
        return `${word()}@example.com`;
      case "hostname":
      case "idn-hostname":
        return `${word()}.example.com`;
      case "ipv4":
        return `192.0.2.${1 + random.int(254)}`;
      case "ipv6":
        return `2001:db8::${(1 + random.int(0xfffe)).toString(16)}`;
      case "uuid":
        return uuidFrom(random);
      case "uri":
      case "url":
      case "iri":
        return `https://example.com/${word()}`;
      case "uri-reference":
      case "iri-reference":
        return `/${word()}`;
      case "uri-template":
        return `https://example.com/{${word()}}`;
      case "json-pointer":
        return `/${word()}`;
      case "relative-json-pointer":
        return "0";
      case "regex":
        return "^[a-z]+$";
      case "byte":
        return Buffer.from(word()).toString("base64");
      case "int32":
      case "int64":
        return String(random.int(1000));
      case "float":
      case "double":
        return String(random.int(1000) / 10);
      default:
        return null;
    }
  }

  private fromName(name: string): string {
    if (LOCATION_NAME.test(name)) {
      return this.places.length > 0 ? this.pick(this.places) : this.pick(DEFAULT_PLACES);
    }
    if (PERSON_NAME.test(name)) {
      return this.places.length > 0 ? this.pick(this.places) : this.pick(DEFAULT_PEOPLE);
    }
    if (/email/i.test(name)) {
      return `${this.slug(name)}@example.com`;
    }
    if (/url|uri|link|website|href/i.test(name)) {
      return `https://example.com/${this.slug(name)}`;
    }
    if (/(^|_)id$|Id$/.test(name)) {
      return `${this.slug(name)}_${this.random.int(1_000_000).toString(36)}`;
    }
    if (/lang/i.test(name)) {
      return "en";
    }
    if (/currency/i.test(name)) {
      return "USD";
    }
    if (FREE_TEXT.test(name)) {
      return this.keywords.length > 0 ? this.keywords.slice(0, 8).join(" ") : "a short example";
    }
    return this.keywords.length > 0 ? this.pick(this.keywords) : this.pick(DEFAULT_WORDS);
  }

  /** A lower-case word for emails and URLs: a hint if there is one, else the property name. */
  private slug(name: string): string {
    const candidates = this.keywords
      .map((word) => word.toLowerCase().replace(/[^a-z0-9]/g, ""))
      .filter((word) => word.length >= 3);
    if (candidates.length > 0) {
      return this.pick(candidates);
    }
    const fromName = name.toLowerCase().replace(/[^a-z0-9]/g, "");
    return fromName === "" ? this.pick(DEFAULT_WORDS) : fromName;
  }

  private sampleArray(
    schema: Readonly<Record<string, unknown>>,
    name: string,
    refDepth: number,
    nesting: number,
  ): Json[] {
    const minItems = typeof schema.minItems === "number" ? schema.minItems : 0;
    this.spend(minItems, `'minItems' ${minItems}`);
    const maxItems =
      typeof schema.maxItems === "number" ? schema.maxItems : Number.POSITIVE_INFINITY;
    const prefix = (
      Array.isArray(schema.prefixItems)
        ? schema.prefixItems
        : Array.isArray(schema.items)
          ? schema.items
          : []
    ) as Schema[];
    const rest = (Array.isArray(schema.items) ? schema.additionalItems : schema.items) as
      | Schema
      | undefined;
    const shallow = refDepth > MAX_REF_DEPTH;
    const longest = Math.min(maxItems, rest === false ? prefix.length : Number.POSITIVE_INFINITY);
    const wanted = shallow
      ? minItems
      : Math.max(minItems, Math.min(1 + this.random.int(3), longest));
    const count = Math.min(wanted, longest);
    if (count < minItems) {
      throw new SchemaSampleError("the array cannot be long enough");
    }
    const itemName = singular(name);
    const items: Json[] = [];
    const seen = new Set<string>();
    const isUnique = schema.uniqueItems === true;
    for (let tries = 0; items.length < count && tries < count * 8 + 8; tries++) {
      const itemSchema = prefix[items.length] ?? rest ?? true;
      const item = this.sample(itemSchema, itemName, refDepth, nesting + 1);
      const key = JSON.stringify(item);
      if (isUnique && seen.has(key)) {
        if (items.length >= minItems) {
          break;
        }
        continue;
      }
      seen.add(key);
      this.spend(1, "'items'");
      items.push(item);
    }
    if (items.length < minItems) {
      throw new SchemaSampleError("not enough distinct items");
    }
    if (schema.contains !== undefined && items.length < maxItems) {
      items.push(this.sample(schema.contains as Schema, itemName, refDepth, nesting + 1));
    }
    return items;
  }

  private sampleObject(
    schema: Readonly<Record<string, unknown>>,
    refDepth: number,
    nesting: number,
  ): { [key: string]: Json } {
    const properties = (isRecord(schema.properties) ? schema.properties : {}) as Record<
      string,
      Schema
    >;
    const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
    const shallow = refDepth > MAX_REF_DEPTH;
    // No prototype: a property named `__proto__` is then an own property like any other (on a
    // plain object the assignment would set the prototype and the property would vanish).
    const object: { [key: string]: Json } = Object.create(null);
    // Optional properties are all included (deterministic and the most useful for a test),
    // except when shallow, where leaving them out is what ends a recursion.
    for (const [key, propertySchema] of Object.entries(properties)) {
      if (required.has(key) || !shallow) {
        this.spend(1, "'properties'");
        object[key] = this.sample(propertySchema, key, refDepth, nesting + 1);
      }
    }
    const extra = schema.additionalProperties;
    for (const key of required) {
      if (!Object.hasOwn(object, key)) {
        const valueSchema = extra === undefined || extra === false ? true : (extra as Schema);
        object[key] = this.sample(valueSchema, key, refDepth, nesting + 1);
      }
    }
    const minProperties = typeof schema.minProperties === "number" ? schema.minProperties : 0;
    this.spend(Object.keys(object).length + minProperties, `'minProperties' ${minProperties}`);
    for (let index = 1; Object.keys(object).length < minProperties; index++) {
      if (extra === false) {
        throw new SchemaSampleError("too few properties allowed");
      }
      object[`${this.slug("key")}_${index}`] = this.sample(
        (extra ?? true) as Schema,
        "value",
        refDepth,
        nesting + 1,
      );
    }
    return object;
  }
}

// randexp is CommonJS with `module.exports = RandExp`, while its types declare a default export:
// under NodeNext the default import is the class itself.
const RandExp = randexpModule as unknown as typeof randexpModule.default;
type RandExp = InstanceType<typeof RandExp>;

const patternGenerators = new Map<string, RandExp>();

function patternGenerator(pattern: string): RandExp {
  let generator = patternGenerators.get(pattern);
  if (generator === undefined) {
    generator = new RandExp(new RegExp(pattern, "u"));
    if (patternGenerators.size > 500) {
      patternGenerators.clear();
    }
    patternGenerators.set(pattern, generator);
  }
  return generator;
}

interface Bounds {
  readonly low: number;
  readonly high: number;
  readonly lowExclusive: boolean;
  readonly highExclusive: boolean;
}

const DEFAULT_SPAN = 100;

function numberBounds(schema: Readonly<Record<string, unknown>>): Bounds {
  let low: number | null = null;
  let high: number | null = null;
  let lowExclusive = false;
  let highExclusive = false;
  if (typeof schema.minimum === "number") {
    low = schema.minimum;
    lowExclusive = schema.exclusiveMinimum === true; // draft-04's boolean form
  }
  if (
    typeof schema.exclusiveMinimum === "number" &&
    (low === null || schema.exclusiveMinimum >= low)
  ) {
    low = schema.exclusiveMinimum;
    lowExclusive = true;
  }
  if (typeof schema.maximum === "number") {
    high = schema.maximum;
    highExclusive = schema.exclusiveMaximum === true;
  }
  if (
    typeof schema.exclusiveMaximum === "number" &&
    (high === null || schema.exclusiveMaximum <= high)
  ) {
    high = schema.exclusiveMaximum;
    highExclusive = true;
  }
  if (low === null && high === null) {
    return { low: 0, high: DEFAULT_SPAN, lowExclusive, highExclusive };
  }
  return {
    low: low ?? Math.min(0, (high as number) - DEFAULT_SPAN),
    high: high ?? Math.max(DEFAULT_SPAN, (low as number) + DEFAULT_SPAN),
    lowExclusive,
    highExclusive,
  };
}

function withinBounds(value: number, bounds: Bounds): boolean {
  const aboveLow = bounds.lowExclusive ? value > bounds.low : value >= bounds.low;
  const belowHigh = bounds.highExclusive ? value < bounds.high : value <= bounds.high;
  return aboveLow && belowHigh;
}

/** Ajv's own test: `value / step` is an integer. */
function isMultiple(value: number, step: number | null): boolean {
  if (step === null) {
    return true;
  }
  const ratio = value / step;
  return ratio === Number.parseInt(String(ratio), 10);
}

/** The smallest multiple of `step` that is also an integer (for integers with a multipleOf). */
function lcmWithIntegers(step: number): number {
  for (let factor = 1; factor <= 1000; factor++) {
    const candidate = roundToStep(step * factor, step);
    if (Number.isInteger(candidate)) {
      return candidate;
    }
  }
  return step;
}

function roundToStep(value: number, step: number): number {
  const decimals = Math.min(15, (String(step).split(".")[1] ?? "").length);
  return Number(value.toFixed(decimals));
}

function fitLength(value: string, minLength: number, maxLength: number, isFree: boolean): string {
  let chars = [...value];
  if (chars.length > maxLength) {
    chars = chars.slice(0, maxLength);
  }
  if (chars.length < minLength) {
    if (!isFree) {
      throw new SchemaSampleError("the format's value is too short for minLength");
    }
    const filler = value === "" ? ["x"] : [" ", ...value];
    while (chars.length < minLength) {
      chars.push(filler[chars.length % filler.length] ?? "x");
    }
  }
  return chars.join("");
}

function uuidFrom(random: SeededRandom): string {
  const hex = Array.from({ length: 32 }, () => random.int(16).toString(16));
  hex[12] = "4";
  hex[16] = "89ab"[random.int(4)] ?? "8";
  const text = hex.join("");
  return `${text.slice(0, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}-${text.slice(16, 20)}-${text.slice(20)}`;
}

function singular(name: string): string {
  return name.endsWith("ies")
    ? `${name.slice(0, -3)}y`
    : name.endsWith("s")
      ? name.slice(0, -1)
      : name;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function inferType(schema: Readonly<Record<string, unknown>>): string {
  if ("properties" in schema || "additionalProperties" in schema || "required" in schema) {
    return "object";
  }
  if (
    "items" in schema ||
    "prefixItems" in schema ||
    "minItems" in schema ||
    "maxItems" in schema
  ) {
    return "array";
  }
  if (
    "minimum" in schema ||
    "maximum" in schema ||
    "multipleOf" in schema ||
    "exclusiveMinimum" in schema ||
    "exclusiveMaximum" in schema
  ) {
    return "number";
  }
  return "string";
}

const ANNOTATIONS = new Set([
  "title",
  "description",
  "$comment",
  "examples",
  "default",
  "$schema",
  "$id",
  "$defs",
  "definitions",
  "deprecated",
  "readOnly",
  "writeOnly",
]);

function hasConstraints(schema: Readonly<Record<string, unknown>>): boolean {
  return Object.keys(schema).some((key) => !ANNOTATIONS.has(key));
}

function withoutKeys(
  schema: Readonly<Record<string, unknown>>,
  keys: readonly string[],
): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...schema };
  for (const key of keys) {
    delete copy[key];
  }
  return copy;
}

function nestingCost(schema: Schema): number {
  if (typeof schema === "boolean") {
    return 1;
  }
  if (schema.type === "null") {
    return 0;
  }
  if ("$ref" in schema || "anyOf" in schema || "oneOf" in schema || "allOf" in schema) {
    return 10;
  }
  const type = typeof schema.type === "string" ? schema.type : inferType(schema);
  return type === "object" || type === "array" ? 5 : 1;
}

/**
 * The intersection of schemas, as far as the sampler needs it: properties merged (and their
 * schemas intersected), `required` united, bounds tightened, types intersected. What it cannot
 * merge stays in the last writer's form; the Ajv check catches anything that then fails.
 */
function mergeSchemas(schemas: readonly Schema[]): Schema {
  // No prototypes here either: a `__proto__` key of the client's schema stays a plain key.
  const merged: Record<string, unknown> = Object.create(null);
  for (const schema of schemas) {
    if (schema === false) {
      return false;
    }
    if (schema === true) {
      continue;
    }
    for (const [key, value] of Object.entries(schema)) {
      const existing = merged[key];
      if (existing === undefined) {
        merged[key] = value;
        continue;
      }
      switch (key) {
        case "properties": {
          const properties: Record<string, Schema> = Object.assign(
            Object.create(null),
            existing as Record<string, Schema>,
          );
          for (const [name, propertySchema] of Object.entries(value as Record<string, Schema>)) {
            const other = properties[name];
            properties[name] =
              other === undefined ? propertySchema : mergeSchemas([other, propertySchema]);
          }
          merged.properties = properties;
          break;
        }
        case "required":
          merged.required = [...new Set([...(existing as string[]), ...(value as string[])])];
          break;
        case "type": {
          const left = Array.isArray(existing) ? existing : [existing];
          const right = Array.isArray(value) ? value : [value];
          const both = left.filter(
            (type) => right.includes(type) || (type === "integer" && right.includes("number")),
          );
          for (const type of right) {
            if (type === "integer" && left.includes("number") && !both.includes("integer")) {
              both.push("integer");
            }
          }
          merged.type =
            both.length === 1
              ? both[0]
              : both.filter((type) => type !== "number" || !both.includes("integer"));
          break;
        }
        case "minimum":
        case "exclusiveMinimum":
        case "minLength":
        case "minItems":
        case "minProperties":
          merged[key] =
            typeof value === "number" && typeof existing === "number"
              ? Math.max(existing, value)
              : value;
          break;
        case "maximum":
        case "exclusiveMaximum":
        case "maxLength":
        case "maxItems":
        case "maxProperties":
          merged[key] =
            typeof value === "number" && typeof existing === "number"
              ? Math.min(existing, value)
              : value;
          break;
        case "enum":
          merged.enum = (existing as unknown[]).filter((item) =>
            (value as unknown[]).some((other) => JSON.stringify(other) === JSON.stringify(item)),
          );
          break;
        case "additionalProperties":
          merged.additionalProperties = existing === false || value === false ? false : value;
          break;
        case "items":
          merged.items =
            Array.isArray(value) || Array.isArray(existing)
              ? value
              : mergeSchemas([existing as Schema, value as Schema]);
          break;
        default:
          merged[key] = value;
      }
    }
  }
  return merged;
}
