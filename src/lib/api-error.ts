import type { ZodError } from "zod";
import type { BackendError } from "../backends/backend.js";

/**
 * The one error type handlers and services throw. `onError` renders it, and only it, as OpenAI's
 * envelope `{"error": {"message", "type", "param", "code"}}`.
 */
export interface ApiErrorOptions {
  readonly type?: string;
  readonly code?: string | null;
  readonly param?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly options: ApiErrorOptions = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  static notFound(message: string): ApiError {
    return new ApiError(404, message, { headers: FINAL });
  }

  static invalid(param: string | null, message: string, code: string | null = null): ApiError {
    return new ApiError(400, message, { param, code, headers: FINAL });
  }

  static conflict(message: string): ApiError {
    return new ApiError(409, message, { headers: FINAL });
  }

  static tooLarge(message: string): ApiError {
    return new ApiError(413, message, { headers: FINAL });
  }

  /**
   * The data dir is full. 507 is an HTTP 5xx, which the SDKs retry at once (and it will fail
   * the same way until space is freed), so it says not to.
   */
  static storageFull(): ApiError {
    return new ApiError(
      507,
      "The server's storage is full, so nothing was saved. Retry after the server's operator " +
        "has freed disk space in its data directory.",
      { type: "server_error", code: "insufficient_storage", headers: FINAL },
    );
  }

  /** A backend's failure as the client should see it: its status, type, code and message. */
  static fromBackend(err: BackendError): ApiError {
    const status = clientStatusFor(err);
    const headers: Record<string, string> = {};
    if (err.retryAfterMs !== null) {
      headers["retry-after-ms"] = String(err.retryAfterMs);
      headers["retry-after"] = String(Math.ceil(err.retryAfterMs / 1000));
    }
    if (!err.retryable) {
      headers["x-should-retry"] = "false";
    }
    return new ApiError(status, err.message, {
      type: err.type,
      code: err.code,
      param: err.param,
      headers,
    });
  }
}

/**
 * The status a client sees for a backend failure: the backend's own for what the client can act
 * on (400, 404, 429, 5xx), but a 502 when an upstream rejects ferry's credentials (that is ferry's
 * configuration, not the client's key), a 504 for a timeout and a 502 for no answer at all.
 */
function clientStatusFor(err: BackendError): number {
  if (err.status === 401 || err.status === 403) {
    return 502;
  }
  if (err.status === null) {
    return err.code === "timeout" ? 504 : 502;
  }
  return err.status;
}

// The SDKs retry 408/409/429/5xx; a final answer says so, so a POST is never re-sent in vain.
const FINAL = { "x-should-retry": "false" } as const;

/** Turns the first zod issue into a 400 whose `param` names the field and whose message says what to fix. */
export function apiErrorFromZod(
  error: ZodError,
  prefix: readonly (string | number)[] = [],
): ApiError {
  const issue = pickIssue(error.issues);
  if (issue === undefined) {
    return ApiError.invalid(null, "The request is invalid.");
  }
  const path = [...prefix, ...issue.path];
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0] ?? "";
    const param = formatParam([...path, key]);
    return ApiError.invalid(param, `Unknown parameter: '${param}'.`, "unknown_parameter");
  }
  const param = path.length > 0 ? formatParam(path) : null;
  if (issue.code === "invalid_type" && issue.message.endsWith("received undefined")) {
    return ApiError.invalid(
      param,
      `Missing required parameter: '${param}'.`,
      "missing_required_parameter",
    );
  }
  if (issue.code === "invalid_value") {
    const allowed = issue.values.map((value) => `'${String(value)}'`).join(", ");
    return ApiError.invalid(
      param,
      `Invalid value for '${param}'. Supported values are: ${allowed}.`,
      "invalid_value",
    );
  }
  const subject = param === null ? "request body" : `'${param}'`;
  return ApiError.invalid(
    param,
    `Invalid ${subject}: ${lowerFirst(issue.message)}.`.replace("..", "."),
  );
}

type Issue = ZodError["issues"][number];

/**
 * For unions zod reports "no branch matched". A branch that failed on a type mismatch was most
 * likely not the one the client meant; a branch that failed on a value (too long, out of range,
 * unknown key) was. Among those, the one that got furthest into the value wins. When every
 * branch is a type mismatch at the union itself, say which types are accepted.
 */
function pickIssue(issues: readonly Issue[]): Issue | undefined {
  const first = issues[0];
  if (first?.code !== "invalid_union" || first.errors.length === 0) {
    return first;
  }
  const candidates = first.errors
    .map((branch) => pickIssue(branch))
    .filter((issue): issue is Issue => issue !== undefined);
  const isTypeMismatch = (issue: Issue) =>
    issue.code === "invalid_type" || issue.code === "invalid_union";
  const valueIssues = candidates.filter((issue) => !isTypeMismatch(issue));
  const pool =
    valueIssues.length > 0 ? valueIssues : candidates.filter((issue) => issue.path.length > 0);
  let best: Issue | undefined;
  for (const candidate of pool) {
    if (best === undefined || candidate.path.length > best.path.length) {
      best = candidate;
    }
  }
  if (best === undefined) {
    const expected = [
      ...new Set(
        candidates.flatMap((issue) => (issue.code === "invalid_type" ? [issue.expected] : [])),
      ),
    ];
    const message =
      expected.length > 0 ? `Invalid input: expected ${expected.join(" or ")}` : first.message;
    return { ...first, message, errors: [] };
  }
  return { ...best, path: [...first.path, ...best.path] };
}

/** ["input", 0, "content"] -> "input[0].content", the way OpenAI names parameters. */
export function formatParam(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") {
      out += `[${part}]`;
    } else {
      out += out === "" ? String(part) : `.${String(part)}`;
    }
  }
  return out;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
