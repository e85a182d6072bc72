import type { Context } from "hono";
import type { z } from "zod";
import { ApiError, apiErrorFromZod } from "../lib/api-error.js";

const NOT_JSON =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using " +
  "your HTTP library correctly. The API expects a JSON payload, but what was sent was not valid " +
  "JSON. Send the body with 'Content-Type: application/json'.)";

/**
 * Reads the request body as JSON and validates it with `schema`. Every failure is a 400 in the
 * envelope: not JSON, not an object, or a field that does not fit (with `param` naming it).
 */
export async function readJsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
): Promise<z.infer<S>> {
  const contentType = c.req.header("content-type") ?? "";
  if (contentType.startsWith("multipart/form-data")) {
    throw ApiError.invalid(null, `${NOT_JSON} Got a multipart/form-data body.`);
  }
  const text = await c.req.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw ApiError.invalid(null, NOT_JSON);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw ApiError.invalid(null, "The request body must be a JSON object.");
  }
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
