/**
 * Test-only helper: validate JSON values against `components.schemas.<Name>` of the official
 * OpenAI OpenAPI spec (OpenAPI 3.1 → JSON Schema 2020-12, validated with Ajv 2020).
 *
 * The spec is parsed once per process and each component validator is compiled lazily and cached.
 * Spec location: $FERRY_OPENAPI_SPEC, else the copy kept in the repository,
 * test/fixtures/openapi/openai-openapi.yml (see the README beside it for its version and source).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { parse } from "yaml";

export type ComponentValidation = { ok: true } | { ok: false; errors: string };

const SPEC_ID = "openai.json";
const COMPONENT_PREFIX = "#/components/schemas/";
const MAX_ERROR_LINES = 40;
const MAX_SNIPPET_CHARS = 300;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// Keywords whose value is a map of name → subschema / a list of subschemas / one subschema.
const SCHEMA_MAP_KEYWORDS = new Set([
  "properties",
  "patternProperties",
  "$defs",
  "dependentSchemas",
]);
const SCHEMA_LIST_KEYWORDS = new Set(["allOf", "anyOf", "oneOf", "prefixItems"]);
const SCHEMA_KEYWORDS = new Set([
  "items",
  "additionalProperties",
  "unevaluatedProperties",
  "unevaluatedItems",
  "contains",
  "propertyNames",
  "not",
  "if",
  "then",
  "else",
]);
// OpenAPI-only annotations. Ajv (strict: false) would ignore them anyway; dropping them keeps the
// compiled code small. `discriminator` is re-added by `applyDiscriminator` where provably safe.
const DROPPED_KEYWORDS = new Set(["discriminator", "example", "examples", "externalDocs", "xml"]);

interface Normalized {
  schemas: JsonObject;
  formats: Set<string>;
}

/**
 * Turn the spec's schemas into valid 2020-12 JSON Schema. Walks only schema positions, so property
 * *names* such as "nullable" or "example" are never mistaken for keywords.
 */
function normalizeSchemas(schemas: JsonObject): Normalized {
  // `schemas` (the raw spec) is also what applyDiscriminator resolves $refs against.
  const formats = new Set<string>();

  const normalize = (node: unknown, componentRef: string): unknown => {
    if (Array.isArray(node)) {
      return node.map((item) => normalize(item, componentRef));
    }
    if (!isObject(node)) {
      return node;
    }
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(fixBooleanBounds(node))) {
      if (key.startsWith("x-") || DROPPED_KEYWORDS.has(key) || key === "nullable") {
        continue;
      }
      if (SCHEMA_MAP_KEYWORDS.has(key) && isObject(value)) {
        out[key] = Object.fromEntries(
          Object.entries(value).map(([name, sub]) => [name, normalize(sub, componentRef)]),
        );
      } else if (SCHEMA_LIST_KEYWORDS.has(key) || SCHEMA_KEYWORDS.has(key)) {
        out[key] = normalize(value, componentRef);
      } else if (key === "$recursiveRef") {
        // 2019-09 recursion (CompoundFilter) is not supported by Ajv 2020; in this spec "#" means
        // "the enclosing component", so point at it directly.
        out.$ref = value === "#" ? componentRef : value;
      } else if (key === "$recursiveAnchor") {
        // Only meaningful together with $recursiveRef, which is rewritten above.
      } else {
        if (key === "format" && typeof value === "string") {
          formats.add(value);
        }
        out[key] = value;
      }
    }
    applyDiscriminator(node, out, schemas);
    // OpenAPI 3.0 leftover `nullable: true`: still present in ~100 places (finish_reason, usage in
    // chat chunks, ...). Wrapping in anyOf also covers enums/$ref/oneOf, where adding "null" to
    // `type` would not be enough.
    return node.nullable === true ? { anyOf: [out, { type: "null" }] } : out;
  };

  const out: JsonObject = {};
  for (const [name, schema] of Object.entries(schemas)) {
    out[name] = normalize(schema, `${COMPONENT_PREFIX}${escapePointer(name)}`);
  }
  return { schemas: out, formats };
}

/**
 * Ajv's `discriminator` validates only the variant named by the tag, so a bad `output_text` part
 * reports "missing logprobs" instead of one error per variant of a 28-way union. It is only applied
 * when it cannot change the outcome: every variant must itself require the tag and pin it to
 * string values (enum/const, directly or via $ref/allOf), and no value may name two variants. Each
 * variant is wrapped so the pinned values sit where Ajv looks (`properties[tag]`, one level deep).
 * Otherwise the plain anyOf/oneOf stays, which is equally strict, just noisier on failure.
 */
function applyDiscriminator(node: JsonObject, out: JsonObject, schemas: JsonObject): void {
  const tag = isObject(node.discriminator) ? node.discriminator.propertyName : undefined;
  const key = Array.isArray(node.oneOf) ? "oneOf" : "anyOf";
  const rawVariants = node[key];
  const variants = out[key];
  if (typeof tag !== "string" || !Array.isArray(rawVariants) || !Array.isArray(variants)) {
    return;
  }
  const pins = (s: JsonObject): string[] | undefined => {
    const prop = isObject(s.properties) ? s.properties[tag] : undefined;
    if (!isObject(prop) || prop.nullable === true) {
      return undefined;
    }
    const values = typeof prop.const === "string" ? [prop.const] : prop.enum;
    return Array.isArray(values) && values.every((v) => typeof v === "string") ? values : undefined;
  };
  const requires = (s: JsonObject): true | undefined =>
    Array.isArray(s.required) && s.required.includes(tag) ? true : undefined;

  const seen = new Set<string>();
  const wrapped: JsonObject[] = [];
  for (const [i, variant] of rawVariants.entries()) {
    const values = implied(variant, schemas, pins);
    if (!values || !implied(variant, schemas, requires) || values.some((v) => seen.has(v))) {
      return;
    }
    for (const v of values) {
      seen.add(v);
    }
    wrapped.push({
      allOf: [variants[i]],
      properties: { [tag]: { enum: values } },
      required: [tag],
    });
  }
  delete out.anyOf;
  out.oneOf = wrapped;
  out.discriminator = { propertyName: tag };
}

/** First fact `own` finds on a schema or on what it necessarily includes ($ref, allOf members). */
function implied<T>(
  schema: unknown,
  schemas: JsonObject,
  own: (s: JsonObject) => T | undefined,
  depth = 0,
): T | undefined {
  // A nullable schema also accepts null, which carries no tag.
  if (!isObject(schema) || schema.nullable === true || depth > 10) {
    return undefined;
  }
  const direct = own(schema);
  if (direct !== undefined) {
    return direct;
  }
  const included: unknown[] = Array.isArray(schema.allOf) ? [...schema.allOf] : [];
  const ref = schema.$ref;
  if (typeof ref === "string" && ref.startsWith(COMPONENT_PREFIX)) {
    included.push(schemas[ref.slice(COMPONENT_PREFIX.length)]);
  }
  for (const member of included) {
    const found = implied(member, schemas, own, depth + 1);
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}

/**
 * OpenAPI 3.0 boolean form (`minimum: 0, exclusiveMinimum: true`, used by the fine-tuning
 * hyperparameters); 2020-12 wants the bound itself in `exclusiveMinimum`.
 */
function fixBooleanBounds(node: JsonObject): JsonObject {
  const out = { ...node };
  for (const [exclusive, bound] of [
    ["exclusiveMinimum", "minimum"],
    ["exclusiveMaximum", "maximum"],
  ] as const) {
    if (typeof out[exclusive] !== "boolean") {
      continue;
    }
    if (out[exclusive] === true && typeof out[bound] === "number") {
      out[exclusive] = out[bound];
      delete out[bound];
    } else {
      delete out[exclusive];
    }
  }
  return out;
}

function escapePointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}

function specPath(): string {
  const override = process.env.FERRY_OPENAPI_SPEC;
  if (override) {
    return override;
  }
  return fileURLToPath(new URL("../fixtures/openapi/openai-openapi.yml", import.meta.url));
}

interface Loaded {
  ajv: Ajv2020;
  componentNames: Set<string>;
  validators: Map<string, ValidateFunction>;
}

let loaded: Loaded | undefined;

function load(): Loaded {
  if (loaded) {
    return loaded;
  }
  const path = specPath();
  const doc: unknown = parse(readFileSync(path, "utf8"));
  const components = isObject(doc) ? doc.components : undefined;
  const rawSchemas = isObject(components) ? components.schemas : undefined;
  if (!isObject(rawSchemas)) {
    throw new Error(`OpenAPI spec at ${path} has no components.schemas`);
  }
  const { schemas, formats } = normalizeSchemas(rawSchemas);

  const ajv = new Ajv2020({ strict: false, allErrors: true, verbose: true, discriminator: true });
  // ajv-formats is CommonJS; under NodeNext its default import is `module.exports`, whose
  // `.default` is the plugin itself.
  addFormatsModule.default(ajv);
  // Formats ajv-formats does not know (e.g. "unixtime" on numbers) are annotations only.
  for (const format of formats) {
    if (!ajv.formats[format]) {
      ajv.addFormat(format, true);
    }
  }
  // One document, so the spec's own "#/components/schemas/X" refs resolve unchanged.
  ajv.addSchema({ $id: SPEC_ID, components: { schemas } });
  loaded = { ajv, componentNames: new Set(Object.keys(schemas)), validators: new Map() };
  return loaded;
}

function validatorFor(name: string): ValidateFunction {
  const state = load();
  const cached = state.validators.get(name);
  if (cached) {
    return cached;
  }
  if (!state.componentNames.has(name)) {
    throw new Error(`Unknown OpenAPI component schema: ${name}`);
  }
  const validate = state.ajv.compile({
    $ref: `${SPEC_ID}#/components/schemas/${escapePointer(name)}`,
  });
  state.validators.set(name, validate);
  return validate;
}

function snippet(value: unknown): string {
  const text = value === undefined ? "undefined" : JSON.stringify(value);
  return text.length > MAX_SNIPPET_CHARS ? `${text.slice(0, MAX_SNIPPET_CHARS)}…` : text;
}

/**
 * One line per error: path, Ajv message, offending value. `enum` failures at the same path (one
 * per union variant when no discriminator applies) are merged into a single line.
 */
function formatErrors(errors: ErrorObject[]): string {
  const lines = new Map<string, () => string>();
  const enums = new Map<string, Set<string>>();
  for (const error of errors) {
    const path = error.instancePath || "(root)";
    const got = ` — got ${snippet(error.data)}`;
    const allowed = isObject(error.params) ? error.params.allowedValues : undefined;
    if (error.keyword === "enum" && Array.isArray(allowed)) {
      const values = enums.get(path) ?? new Set<string>();
      enums.set(path, values);
      for (const value of allowed) {
        values.add(JSON.stringify(value));
      }
      lines.set(`enum ${path}`, () => `${path}: must be one of ${list([...values])}${got}`);
    } else {
      const line = `${path}: ${error.message ?? error.keyword}${got}`;
      lines.set(line, () => line);
    }
  }
  const rendered = [...lines.values()].map((render) => render());
  if (rendered.length > MAX_ERROR_LINES) {
    const hidden = rendered.length - MAX_ERROR_LINES;
    return [...rendered.slice(0, MAX_ERROR_LINES), `… and ${hidden} more`].join("\n");
  }
  return rendered.join("\n");
}

function list(values: string[]): string {
  const shown = values.slice(0, 12).join(", ");
  return values.length > 12 ? `[${shown}, … (${values.length} values)]` : `[${shown}]`;
}

export function validateAgainstComponent(name: string, value: unknown): ComponentValidation {
  const validate = validatorFor(name);
  if (validate(value)) {
    return { ok: true };
  }
  return { ok: false, errors: formatErrors(validate.errors ?? []) };
}

export function expectMatchesComponent(name: string, value: unknown): void {
  const result = validateAgainstComponent(name, value);
  if (!result.ok) {
    throw new Error(
      `Value does not match OpenAPI components.schemas.${name}:\n${result.errors}\nvalue: ${snippet(value)}`,
    );
  }
}
