import type { Context } from "hono";
import type { z } from "zod";
import { ApiError, apiErrorFromZod } from "../lib/api-error.js";
import { isValueNestedDeeperThan, MAX_JSON_DEPTH } from "../lib/json-depth.js";
import type { JsonMemberCache } from "../lib/json-member-cache.js";

const NOT_JSON =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using " +
  "your HTTP library correctly. The API expects a JSON payload, but what was sent was not valid " +
  "JSON. Send the body with 'Content-Type: application/json'.)";

// JSON is UTF-8 (RFC 8259). A lenient decoder would turn invalid bytes into U+FFFD and store them.
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The declared types a JSON body may come with: JSON itself, none at all, and the form type that
 * `curl -d` sends when no type is given. Anything else (text/plain, XML, multipart) is refused
 * rather than guessed at.
 */
function isJsonMediaType(mediaType: string): boolean {
  return (
    mediaType === "" ||
    mediaType === "application/json" ||
    mediaType.endsWith("+json") ||
    mediaType === "application/x-www-form-urlencoded"
  );
}

/**
 * Reads the request body as JSON and validates it with `schema`. Every failure is a 400 in the
 * envelope: a content type that is not JSON, bytes that are not UTF-8, not JSON, nested deeper
 * than MAX_JSON_DEPTH, not an object, or a field that does not fit (with `param` naming it).
 *
 * `members`: large members the route's clients repeat (a Responses request's tools), reused
 * from an earlier body with the same member text instead of being parsed and validated again
 * (json-member-cache.ts); the answer, errors included, is the same.
 */
export async function readJsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  options: { members?: JsonMemberCache } = {},
): Promise<z.infer<S>> {
  const mediaType = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (!isJsonMediaType(mediaType)) {
    throw ApiError.invalid(null, `${NOT_JSON} Got a ${mediaType.slice(0, 100)} body.`);
  }
  const bytes = await c.req.arrayBuffer();
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw ApiError.invalid(
      null,
      "The request body is not valid UTF-8; send JSON encoded as UTF-8.",
    );
  }
  const reused = options.members?.split(text) ?? null;
  if (reused?.rest != null) {
    const rest = validateBody(schema, parseJsonObject(reused.rest)) as Record<string, unknown>;
    reused.remember(rest);
    return reused.assemble(rest) as z.infer<S>;
  }
  const body = validateBody(schema, parseJsonObject(text));
  reused?.remember(body as Record<string, unknown>);
  return body;
}

function parseJsonObject(text: string): object {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw ApiError.invalid(null, NOT_JSON);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw ApiError.invalid(null, "The request body must be a JSON object.");
  }
  if (isValueNestedDeeperThan(body, MAX_JSON_DEPTH)) {
    throw ApiError.invalid(
      null,
      `The request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep.`,
    );
  }
  return body;
}

function validateBody<S extends z.ZodType>(schema: S, body: object): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw apiErrorFromZod(parsed.error);
  }
  return parsed.data;
}

/** Validates query parameters with `schema`; a bad one is a 400 naming it. */
export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) {
    throw apiErrorFromZod(parsed.error);
  }
  return parsed.data;
}
