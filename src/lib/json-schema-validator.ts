import { Ajv, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { jsonTextOf } from "./json-text.js";
import { linearRegExp } from "./linear-regexp.js";

/**
 * Compiling a client's JSON Schema with Ajv, once per distinct schema. Both the service (which
 * rejects a schema it cannot use) and the mock (which checks every value it samples) compile
 * the same schemas again and again, so compiled validators are kept by the schema's JSON text.
 *
 * The dialect follows `$schema`: draft-04/06/07 compile with Ajv's draft-07 engine (tuple
 * `items` arrays, `definitions`), anything else with 2020-12, the dialect OpenAI and the zod
 * converters write (`$defs`, `prefixItems`). A schema without `$schema` that uses draft-07 tuple
 * syntax is draft-07 too, since 2020-12 would reject it.
 */

export type JsonSchemaValidator = ValidateFunction;

// Clients add annotations Ajv does not know (x-*, "examples" in odd places, OpenAPI's
// "nullable"); strict mode would reject those schemas, which OpenAI accepts.
// Patterns match in linear time (see linear-regexp.ts): a client's `pattern` is untrusted.
const AJV_OPTIONS = {
  strict: false,
  allErrors: false,
  validateFormats: true,
  code: { regExp: linearRegExp },
} as const;

function withFormats<T extends Ajv>(ajv: T): T {
  // ajv-formats is CommonJS; under NodeNext its default import is `module.exports`.
  addFormatsModule.default(ajv);
  return ajv;
}

let draft07: Ajv | null = null;
let draft2020: Ajv2020 | null = null;

function engineFor(schema: unknown): Ajv {
  if (usesDraft07(schema)) {
    draft07 ??= withFormats(new Ajv(AJV_OPTIONS));
    return draft07;
  }
  draft2020 ??= withFormats(new Ajv2020(AJV_OPTIONS));
  return draft2020;
}

function usesDraft07(schema: unknown): boolean {
  if (typeof schema !== "object" || schema === null) {
    return false;
  }
  const dialect = (schema as { $schema?: unknown }).$schema;
  if (typeof dialect === "string") {
    return /draft-0[4-7]/.test(dialect);
  }
  return hasTupleItems(schema, 0);
}

function hasTupleItems(node: unknown, depth: number): boolean {
  if (typeof node !== "object" || node === null || depth > 64) {
    return false;
  }
  if (Array.isArray(node)) {
    return node.some((child) => hasTupleItems(child, depth + 1));
  }
  const record = node as Record<string, unknown>;
  if (Array.isArray(record.items) || "additionalItems" in record) {
    return true;
  }
  return Object.values(record).some((child) => hasTupleItems(child, depth + 1));
}

const MAX_CACHED = 500;
const validators = new Map<string, JsonSchemaValidator>();

/**
 * The compiled validator of `schema`. Throws Ajv's error when the schema does not compile (an
 * unknown `$ref`, a malformed keyword, an invalid regex).
 */
export function compileJsonSchema(schema: unknown): JsonSchemaValidator {
  // Before the key: JSON.stringify overflows the stack on a deep enough schema too.
  assertSchemaDepth(schema);
  // The text is the request's own (jsonTextOf), shared with the other caches keyed by it.
  const key =
    typeof schema === "object" && schema !== null ? jsonTextOf(schema) : JSON.stringify(schema);
  const cached = validators.get(key);
  if (cached !== undefined) {
    return cached;
  }
  assertCompilable(schema);
  const ajv = engineFor(schema);
  // A private copy: Ajv keys its own cache by object and by `$id`; it is removed from Ajv
  // right away (our map bounds the memory), so two schemas with the same `$id` do not clash.
  const copy = structuredClone(schema) as Record<string, unknown> | boolean;
  // The engine is chosen above; a `$schema` Ajv has no meta-schema for (draft-04, 2019-09,
  // which zod-to-json-schema can write) would otherwise fail to compile.
  if (typeof copy === "object" && copy !== null) {
    delete copy.$schema;
  }
  let validate: JsonSchemaValidator;
  try {
    validate = ajv.compile(copy);
  } finally {
    // Ajv only registers object schemas; removeSchema(false) throws "invalid parameter".
    if (typeof copy === "object" && copy !== null) {
      ajv.removeSchema(copy);
    }
  }
  if (validators.size >= MAX_CACHED) {
    const oldest = validators.keys().next();
    if (oldest.done !== true) {
      validators.delete(oldest.value);
    }
  }
  validators.set(key, validate);
  return validate;
}

/**
 * How deeply a schema may nest (JSON levels) before it is refused. Ajv compiles recursively: at
 * a few thousand levels it overflows the stack, after seconds of work on the event loop. HTTP
 * bodies stop at 100 levels (json-depth.ts); this guards every other way in.
 */
export const MAX_SCHEMA_DEPTH = 200;
const MAX_REF_HOPS = 1000;

/** Throws when `schema` nests more than MAX_SCHEMA_DEPTH levels; iterative, so safe at any depth. */
export function assertSchemaDepth(schema: unknown): void {
  const stack: { node: unknown; depth: number }[] = [{ node: schema, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (typeof node !== "object" || node === null) {
      continue;
    }
    if (depth > MAX_SCHEMA_DEPTH) {
      throw new Error(
        `the schema nests more than ${MAX_SCHEMA_DEPTH} levels deep; flatten it or move repeated parts into $defs`,
      );
    }
    for (const child of Object.values(node)) {
      stack.push({ node: child, depth: depth + 1 });
    }
  }
}

/**
 * Refuses, with a message that says what to fix, a schema Ajv would choke on rather than
 * reject: a `$ref` chain that comes back to itself with no
 * subschema in between (`a` -> `b` -> `a`), on which Ajv recurses until the stack overflows.
 * Iterative, so it cannot overflow itself.
 */
function assertCompilable(schema: unknown): void {
  const stack: unknown[] = [schema];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== "object" || node === null) {
      continue;
    }
    const ref = (node as { $ref?: unknown }).$ref;
    if (typeof ref === "string" && ref.startsWith("#")) {
      assertRefChainEnds(schema, node, ref);
    }
    stack.push(...Object.values(node));
  }
}

function assertRefChainEnds(root: unknown, start: object, firstRef: string): void {
  const seen = new Set<unknown>([start]);
  let ref: unknown = firstRef;
  for (let hops = 0; typeof ref === "string" && ref.startsWith("#"); hops++) {
    const target = resolveLocalPointer(root, ref);
    if (typeof target !== "object" || target === null) {
      return; // Ajv reports a reference it cannot resolve
    }
    if (seen.has(target) || hops > MAX_REF_HOPS) {
      throw new Error(
        `the $ref '${firstRef.slice(0, 200)}' leads back to itself through $refs alone, so no value can be checked against it; break the cycle with a subschema (an object property or array item)`,
      );
    }
    seen.add(target);
    ref = (target as { $ref?: unknown }).$ref;
  }
}

function resolveLocalPointer(root: unknown, ref: string): unknown {
  let node = root;
  const pointer = ref.slice(1);
  if (pointer === "") {
    return root;
  }
  if (!pointer.startsWith("/")) {
    return undefined; // an anchor (#name): Ajv resolves those
  }
  for (const raw of pointer.slice(1).split("/")) {
    let key: string;
    try {
      key = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
    } catch {
      return undefined;
    }
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, key)) {
      return undefined;
    }
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Ajv's errors of the last validation, as one line (for test failures and messages). */
export function describeValidationErrors(validate: JsonSchemaValidator): string {
  return (validate.errors ?? [])
    .map((error) => `${error.instancePath || "/"} ${error.message ?? "is invalid"}`)
    .join("; ");
}
