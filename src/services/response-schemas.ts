import type { CreateResponseRequest } from "../contract/responses-request.js";
import { assertUsableSchema } from "./schema-rules.js";

/**
 * The JSON Schemas a Responses request carries (each function tool's `parameters`, a
 * `json_schema` text format's `schema`), checked before the request runs, with the `param` the
 * client must fix. The strict-mode rules apply where the client asked for strict (`strict: true`):
 * a function that leaves `strict` unset runs strict (as the Responses API makes it), but its
 * schema is only checked to compile, so a client that never thought about strict mode (say,
 * `parameters: {}`) is not refused for it. The rules (OpenAI's, strict mode's subset) are
 * schema-rules.ts's, shared with the Chat surface.
 */
export function assertResponseSchemasUsable(request: CreateResponseRequest): void {
  for (const [index, tool] of (request.tools ?? []).entries()) {
    if (tool.type === "function" && tool.parameters !== undefined && tool.parameters !== null) {
      assertUsableSchema(tool.parameters, {
        strict: tool.strict === true,
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
