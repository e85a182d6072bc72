import { ApiError } from "../lib/api-error.js";
import { assertSchemaDepth, compileJsonSchema } from "../lib/json-schema-validator.js";
import { internIdOf, jsonTextOf } from "../lib/json-text.js";
import { createLruCache } from "../lib/lru-cache.js";

/**
 * Whether a client's JSON Schema (a `json_schema` output format or a function's parameters) can
 * be used: any schema must compile with Ajv; a strict one must also keep to the subset OpenAI's
 * strict mode accepts, so a request that OpenAI would refuse is refused here too, with the same
 * message (a client developing against ferry then works against OpenAI).
 *
 * Only what OpenAI documents as unsupported is refused; keywords it is silent about pass, since
 * refusing a schema OpenAI takes would break a working client.
 */

export interface SchemaRuleOptions {
  readonly strict: boolean;
  /** Where the schema sits in the request, for the error's `param`. */
  readonly param: string;
  readonly kind: "response_format" | "function";
  /** The format's or the function's name, for the message. */
  readonly name: string;
}

// OpenAI's "Supported schemas" guide lists these as not supported in strict mode.
const UNSUPPORTED_KEYWORDS = [
  "allOf",
  "not",
  "if",
  "then",
  "else",
  "dependentRequired",
  "dependentSchemas",
  "patternProperties",
  "unevaluatedProperties",
  "unevaluatedItems",
  "propertyNames",
  "minProperties",
  "maxProperties",
  "contains",
  "minContains",
  "maxContains",
];

// OpenAI's limits for a strict schema.
const MAX_OBJECT_NESTING = 10;
const MAX_TOTAL_PROPERTIES = 5000;
const MAX_ENUM_VALUES = 1000;

export function assertUsableSchema(schema: unknown, options: SchemaRuleOptions): void {
  const fail = (message: string) =>
    ApiError.invalid(
      options.param,
      `Invalid schema for ${options.kind} '${options.name}': ${message}`,
      options.kind === "function" ? "invalid_function_parameters" : "invalid_json_schema",
    );
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw fail("schema must be a JSON object.");
  }
  const problem = cachedSchemaProblem(schema, options.strict);
  if (problem !== null) {
    throw fail(problem);
  }
}

// Clients send the same tools and formats with every request, and walking a 30-property schema
// (patterns, Ajv's cache key, the strict rules) is a large part of a request's cost. The verdict
// depends only on the schema's JSON text and on strictness; the message's frame (param, name)
// is added per request.
const VERDICTS_CACHED = 500;
const verdicts = createLruCache<string, string | null>(VERDICTS_CACHED);

function cachedSchemaProblem(schema: object, strict: boolean): string | null {
  // An interned schema (see json-text.ts) is keyed by its id: no long key to build and hash,
  // and its depth is checked once, with the rest of its verdict. Any other is encoded for its
  // key, so its depth comes first: JSON.stringify would overflow the stack on a deep enough one.
  const id = internIdOf(schema);
  if (id === undefined) {
    const tooDeep = depthProblem(schema);
    if (tooDeep !== null) {
      return tooDeep;
    }
  }
  const key = `${strict ? "s" : "n"}${id === undefined ? jsonTextOf(schema) : `#${id}`}`;
  const cached = verdicts.get(key);
  if (cached !== undefined) {
    return cached;
  }
  // The walks below recurse, and would overflow the stack on a deep enough schema.
  const problem = (id === undefined ? null : depthProblem(schema)) ?? schemaProblem(schema, strict);
  verdicts.set(key, problem);
  return problem;
}

function depthProblem(schema: object): string | null {
  try {
    assertSchemaDepth(schema);
    return null;
  } catch (error) {
    return `${error instanceof Error ? error.message : String(error)}.`;
  }
}

/** What is wrong with the schema (the message after "Invalid schema for ..."), or null. */
function schemaProblem(schema: object, strict: boolean): string | null {
  const badPattern = findInvalidPattern(schema, []);
  if (badPattern !== null) {
    return badPattern;
  }
  try {
    compileJsonSchema(schema);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return `${reason.replace(/\.$/, "")}.`;
  }
  if (!strict) {
    return null;
  }
  const root = schema as Record<string, unknown>;
  if (root.type !== "object") {
    const got = typeof root.type === "string" ? root.type : "None";
    return `schema must be a JSON Schema of 'type: "object"', got 'type: "${got}"'.`;
  }
  const totals = { properties: 0, enumValues: 0 };
  return findStrictProblem(root, [], 0, totals);
}

type Context = readonly (string | number)[];

/**
 * Ajv's message for a bad regex does not say where it is; this one does. Patterns are compiled
 * with the "u" flag, as Ajv (and JSON Schema's ECMA-262 dialect) reads them.
 */
function findInvalidPattern(node: unknown, context: Context): string | null {
  if (typeof node !== "object" || node === null) {
    return null;
  }
  for (const [key, child] of Object.entries(node)) {
    if (key === "pattern" && typeof child === "string") {
      try {
        new RegExp(child, "u");
      } catch {
        return `In context=${describeContext(context)}, 'pattern' is not a valid regular expression: '${child}'.`;
      }
    } else {
      const problem = findInvalidPattern(child, [
        ...context,
        Array.isArray(node) ? Number(key) : key,
      ]);
      if (problem !== null) {
        return problem;
      }
    }
  }
  return null;
}

/** OpenAI names a place in the schema as a Python tuple: ('properties', 'a', 'items'). */
function describeContext(context: Context): string {
  const parts = context.map((part) => (typeof part === "number" ? String(part) : `'${part}'`));
  return parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(", ")})`;
}

function findStrictProblem(
  node: unknown,
  context: Context,
  objectDepth: number,
  totals: { properties: number; enumValues: number },
): string | null {
  if (typeof node !== "object" || node === null || Array.isArray(node)) {
    return null;
  }
  const schema = node as Record<string, unknown>;
  const at = `In context=${describeContext(context)}, `;
  for (const keyword of UNSUPPORTED_KEYWORDS) {
    if (keyword in schema) {
      return `${at}'${keyword}' is not permitted.`;
    }
  }
  if (Array.isArray(schema.enum)) {
    totals.enumValues += schema.enum.length;
    if (totals.enumValues > MAX_ENUM_VALUES) {
      return `${at}the schema has more than ${MAX_ENUM_VALUES} enum values in total.`;
    }
  }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  const isObject =
    types.includes("object") || (schema.type === undefined && "properties" in schema);
  let depth = objectDepth;
  if (isObject) {
    depth++;
    if (depth > MAX_OBJECT_NESTING) {
      return `${at}the schema nests objects more than ${MAX_OBJECT_NESTING} levels deep.`;
    }
    if (schema.additionalProperties !== false) {
      return `${at}'additionalProperties' is required to be supplied and to be false.`;
    }
    const properties =
      typeof schema.properties === "object" && schema.properties !== null
        ? Object.keys(schema.properties)
        : [];
    totals.properties += properties.length;
    if (totals.properties > MAX_TOTAL_PROPERTIES) {
      return `${at}the schema has more than ${MAX_TOTAL_PROPERTIES} object properties in total.`;
    }
    const required = Array.isArray(schema.required) ? schema.required : null;
    const missing = properties.find((key) => required === null || !required.includes(key));
    if (missing !== undefined) {
      return `${at}'required' is required to be supplied and to be an array including every key in properties. Missing '${missing}'.`;
    }
  }
  for (const [key, child] of childSchemas(schema)) {
    const problem = findStrictProblem(child, [...context, ...key], depth, totals);
    if (problem !== null) {
      return problem;
    }
  }
  return null;
}

/** The subschemas of a schema, each with its path below it. */
function* childSchemas(schema: Record<string, unknown>): Generator<[Context, unknown]> {
  for (const keyword of ["properties", "$defs", "definitions"]) {
    const map = schema[keyword];
    if (typeof map === "object" && map !== null && !Array.isArray(map)) {
      for (const [name, child] of Object.entries(map)) {
        yield [[keyword, name], child];
      }
    }
  }
  for (const keyword of ["anyOf", "oneOf", "prefixItems"]) {
    const list = schema[keyword];
    if (Array.isArray(list)) {
      for (const [index, child] of list.entries()) {
        yield [[keyword, index], child];
      }
    }
  }
  if (Array.isArray(schema.items)) {
    for (const [index, child] of schema.items.entries()) {
      yield [["items", index], child];
    }
  } else if (schema.items !== undefined) {
    yield [["items"], schema.items];
  }
}
