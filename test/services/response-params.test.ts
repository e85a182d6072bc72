import { describe, expect, it } from "vitest";
import type { CreateResponseRequest } from "../../src/contract/responses-request.js";
import {
  paramsFromRequest,
  paramsFromStored,
  storedParams,
} from "../../src/services/response-object.js";

function request(fields: Partial<CreateResponseRequest>): CreateResponseRequest {
  return { model: "gpt-4o-mini", input: "hi", ...fields } as CreateResponseRequest;
}

describe("stored response params", () => {
  it("stores nothing for a request that sets nothing, and reads OpenAI's defaults back", () => {
    const params = paramsFromRequest(request({}));
    expect(storedParams(params)).toEqual({});
    expect(paramsFromStored({})).toEqual(params);
  });

  it("stores only what differs, and reads every param back", () => {
    const params = paramsFromRequest(
      request({
        instructions: "Be brief.",
        temperature: 0.2,
        text: { format: { type: "json_object" }, verbosity: "medium" },
        reasoning: { effort: "low" },
        tools: [{ type: "function", name: "f", parameters: {}, strict: false }],
      }),
    );
    const stored = storedParams(params);
    expect(Object.keys(stored).sort()).toEqual(
      ["instructions", "reasoning", "temperature", "text", "tools"].sort(),
    );
    expect(paramsFromStored(JSON.parse(JSON.stringify(stored)))).toEqual(params);
  });

  it("treats a default value the request sent explicitly as a default", () => {
    const params = paramsFromRequest(
      request({ temperature: 1, top_p: 1, tool_choice: "auto", truncation: "disabled" }),
    );
    expect(storedParams(params)).toEqual({});
  });

  it("reads a row that holds every param (written before rows kept only the differences)", () => {
    const params = paramsFromRequest(request({ user: "u-1", top_p: 0.5 }));
    expect(paramsFromStored(JSON.parse(JSON.stringify(params)))).toEqual(params);
  });
});
