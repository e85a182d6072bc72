import type { CreateResponseRequest } from "../contract/responses-request.js";
import { ApiError } from "../lib/api-error.js";

/**
 * The JSON Schemas a Responses request carries (each function tool's `parameters`, a
 * `json_schema` text format's `schema`), checked before the request runs, with the `param` the
 * client must fix. Function tools are strict unless `strict: false`, as the Responses API makes
 * them; a text format only when `strict: true`.
 */
export function assertResponseSchemasUsable(request: CreateResponseRequest): void {
  for (const [index, tool] of (request.tools ?? []).entries()) {
    if (tool.type === "function" && tool.parameters !== undefined && tool.parameters !== null) {
      assertUsableSchema(tool.parameters, {
        strict: tool.strict !== false,
        param: `tools[${index}].parameters`,
        kind: "function",
        name: tool.name,
      });
    }
  }
  const format = request.text?.format;
  if (format?.type === "json_schema") {
    assertUsableSchema(format.schema, {
      strict: format.strict === true,
      param: "text.format.schema",
      kind: "response_format",
      name: format.name,
    });
  }
}

interface SchemaRuleOptions {
  readonly strict: boolean;
  readonly param: string;
  readonly kind: "response_format" | "function";
  readonly name: string;
}

/**
 * The rule OpenAI applies to every function's parameters: the root is an object schema. The
 * full strict-mode rules (src/services/schema-rules.ts, same signature) replace this check when
 * they land on main.
 */
function assertUsableSchema(schema: Record<string, unknown>, options: SchemaRuleOptions): void {
  if (options.kind === "function" && schema.type !== undefined && schema.type !== "object") {
    throw ApiError.invalid(
      options.param,
      `Invalid schema for function '${options.name}': schema must be a JSON Schema of 'type: "object"', got 'type: "${String(schema.type)}"'.`,
      "invalid_function_parameters",
    );
  }
}
