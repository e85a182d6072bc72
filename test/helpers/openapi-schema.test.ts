import { describe, expect, it } from "vitest";
import { expectMatchesComponent, validateAgainstComponent } from "./openapi-schema.js";

function assistantMessage(): Record<string, unknown> {
  return {
    type: "message",
    id: "msg_123",
    role: "assistant",
    status: "completed",
    content: [{ type: "output_text", text: "hi", annotations: [], logprobs: [] }],
  };
}

/** Minimal completed Response per the spec (Response = ModelResponseProperties + ResponseProperties + own). */
function minimalResponse(): Record<string, unknown> {
  return {
    id: "resp_123",
    object: "response",
    created_at: 1741476542,
    status: "completed",
    model: "gpt-4o-mini",
    output: [assistantMessage()],
    usage: {
      input_tokens: 5,
      // The spec requires cache_write_tokens next to cached_tokens (see the quirks block below).
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: 1,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 6,
    },
    error: null,
    incomplete_details: null,
    instructions: null,
    metadata: {},
    tools: [],
    tool_choice: "auto",
    parallel_tool_calls: true,
    temperature: 1,
    top_p: 1,
  };
}

function textDelta(): Record<string, unknown> {
  return {
    type: "response.output_text.delta",
    item_id: "msg_123",
    output_index: 0,
    content_index: 0,
    delta: "hi",
    logprobs: [],
    sequence_number: 3,
  };
}

function errorsOf(name: string, value: unknown): string {
  const result = validateAgainstComponent(name, value);
  if (result.ok) {
    throw new Error(`expected ${name} validation to fail`);
  }
  return result.errors;
}

describe("validateAgainstComponent: Response", () => {
  it("accepts a minimal completed response", () => {
    expect(validateAgainstComponent("Response", minimalResponse())).toEqual({ ok: true });
    expect(() => expectMatchesComponent("Response", minimalResponse())).not.toThrow();
  });

  it("rejects a wrong object tag", () => {
    expect(errorsOf("Response", { ...minimalResponse(), object: "chat.completion" })).toContain(
      '/object: must be one of ["response"] — got "chat.completion"',
    );
  });

  it("rejects an unknown status", () => {
    expect(errorsOf("Response", { ...minimalResponse(), status: "bogus" })).toMatch(
      /^\/status: must be one of \[.*"completed".*\] — got "bogus"$/m,
    );
  });

  it.each([
    "id",
    "object",
    "created_at",
    "error",
    "incomplete_details",
    "instructions",
    "model",
    "tools",
    "output",
    "parallel_tool_calls",
    "metadata",
    "tool_choice",
    "temperature",
    "top_p",
  ])("requires %s", (field) => {
    const value = minimalResponse();
    delete value[field];
    expect(errorsOf("Response", value)).toContain(`must have required property '${field}'`);
  });

  it("does not require status or usage (spec), but validates them when present", () => {
    const { status: _status, usage: _usage, ...rest } = minimalResponse();
    expect(validateAgainstComponent("Response", rest).ok).toBe(true);
    expect(errorsOf("Response", { ...rest, usage: { input_tokens: 1 } })).toContain(
      "/usage: must have required property 'output_tokens'",
    );
  });

  it("reports only the matching variant of a discriminated union (output_text without logprobs)", () => {
    const value = minimalResponse();
    value.output = [
      {
        type: "message",
        id: "msg_1",
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: "hi", annotations: [] }],
      },
    ];
    const errors = errorsOf("Response", value);
    expect(errors).toBe(
      `/output/0/content/0: must have required property 'logprobs' — got {"type":"output_text","text":"hi","annotations":[]}`,
    );
  });

  it("rejects an output item with an unknown type", () => {
    const value = { ...minimalResponse(), output: [{ type: "mystery", id: "x" }] };
    expect(errorsOf("Response", value)).toContain(
      '/output/0: value of tag "type" must be in oneOf',
    );
  });

  it("expectMatchesComponent throws a readable error", () => {
    expect(() => expectMatchesComponent("Response", { ...minimalResponse(), id: 42 })).toThrow(
      /does not match OpenAPI components\.schemas\.Response:\n\/id: must be string — got 42/,
    );
  });

  it("throws for an unknown component name", () => {
    expect(() => validateAgainstComponent("NoSuchComponent", {})).toThrow(
      "Unknown OpenAPI component schema: NoSuchComponent",
    );
  });
});

describe("validateAgainstComponent: ErrorResponse", () => {
  const error = { message: "x", type: "invalid_request_error", param: null, code: null };

  it("accepts the standard error envelope", () => {
    expectMatchesComponent("ErrorResponse", { error });
  });

  it("requires param and code (nullable, but present)", () => {
    const { param: _param, ...noParam } = error;
    expect(errorsOf("ErrorResponse", { error: noParam })).toContain(
      "/error: must have required property 'param'",
    );
    const { code: _code, ...noCode } = error;
    expect(errorsOf("ErrorResponse", { error: noCode })).toContain(
      "/error: must have required property 'code'",
    );
  });
});

describe("validateAgainstComponent: ResponseStreamEvent", () => {
  it("accepts response.output_text.delta", () => {
    expectMatchesComponent("ResponseStreamEvent", textDelta());
  });

  it("rejects an unknown event type", () => {
    expect(errorsOf("ResponseStreamEvent", { ...textDelta(), type: "response.bogus" })).toContain(
      'value of tag "type" must be in oneOf',
    );
  });

  it("requires logprobs on output_text deltas", () => {
    const { logprobs: _logprobs, ...value } = textDelta();
    expect(errorsOf("ResponseStreamEvent", value)).toBe(
      `(root): must have required property 'logprobs' — got ${JSON.stringify(value)}`,
    );
  });

  it("includes response.queued (with a full Response) but not keepalive", () => {
    const queued = { ...minimalResponse(), status: "queued", output: [] };
    expectMatchesComponent("ResponseStreamEvent", {
      type: "response.queued",
      sequence_number: 0,
      response: queued,
    });
    expect(
      validateAgainstComponent("ResponseStreamEvent", { type: "keepalive", sequence_number: 1 }).ok,
    ).toBe(false);
  });

  it("validates the embedded Response of lifecycle events", () => {
    const event = {
      type: "response.completed",
      sequence_number: 9,
      response: { ...minimalResponse(), status: "bogus" },
    };
    expect(errorsOf("ResponseStreamEvent", event)).toMatch(/^\/response\/status: must be one of/m);
  });
});

describe("validateAgainstComponent: other endpoints", () => {
  it("CreateEmbeddingResponse: float arrays pass; the spec does not allow base64 strings", () => {
    const response = (embedding: unknown) => ({
      object: "list",
      model: "text-embedding-3-small",
      data: [{ object: "embedding", index: 0, embedding }],
      usage: { prompt_tokens: 2, total_tokens: 2 },
    });
    expectMatchesComponent("CreateEmbeddingResponse", response([0.1, -0.2]));
    expect(errorsOf("CreateEmbeddingResponse", response("zczMPc3MTL4="))).toBe(
      '/data/0/embedding: must be array — got "zczMPc3MTL4="',
    );
  });

  it("CreateChatCompletionResponse", () => {
    const completion = {
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 1741476542,
      model: "gpt-4o-mini",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "hi", refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
    };
    expectMatchesComponent("CreateChatCompletionResponse", completion);
    expect(
      validateAgainstComponent("CreateChatCompletionResponse", {
        ...completion,
        object: "response",
      }).ok,
    ).toBe(false);
  });

  it("CreateChatCompletionStreamResponse: OpenAPI 3.0 `nullable` allows null but keeps the enum", () => {
    const chunk = (finishReason: unknown, usage: unknown) => ({
      id: "chatcmpl-1",
      object: "chat.completion.chunk",
      created: 1741476542,
      model: "gpt-4o-mini",
      choices: [
        {
          index: 0,
          delta: { role: "assistant", content: "" },
          logprobs: null,
          finish_reason: finishReason,
        },
      ],
      usage,
    });
    expectMatchesComponent("CreateChatCompletionStreamResponse", chunk(null, null));
    expectMatchesComponent("CreateChatCompletionStreamResponse", chunk("stop", null));
    expect(errorsOf("CreateChatCompletionStreamResponse", chunk("bogus", null))).toContain(
      "/choices/0/finish_reason: must be one of",
    );
    expect(
      errorsOf("CreateChatCompletionStreamResponse", chunk(null, { prompt_tokens: 1 })),
    ).toContain("/usage: must have required property 'completion_tokens'");
  });

  it("ListModelsResponse / Model / DeleteModelResponse", () => {
    const model = { id: "gpt-4o-mini", object: "model", created: 1, owned_by: "system" };
    expectMatchesComponent("Model", model);
    expectMatchesComponent("ListModelsResponse", { object: "list", data: [model] });
    expect(
      errorsOf("ListModelsResponse", { object: "list", data: [{ ...model, created: "1" }] }),
    ).toContain("/data/0/created: must be integer");
    expectMatchesComponent("DeleteModelResponse", { id: "ft:x", object: "model", deleted: true });
  });

  it("ResponseItemList (ItemResource union without a usable discriminator)", () => {
    const list = {
      object: "list",
      data: [
        {
          id: "msg_1",
          type: "message",
          role: "user",
          status: "completed",
          content: [{ type: "input_text", text: "hi" }],
        },
        assistantMessage(),
      ],
      first_id: "msg_1",
      last_id: "msg_123",
      has_more: false,
    };
    expectMatchesComponent("ResponseItemList", list);
    expect(
      validateAgainstComponent("ResponseItemList", {
        ...list,
        data: [{ id: "x", type: "message", role: "martian" }],
      }).ok,
    ).toBe(false);
  });
});

describe("OpenAPI → JSON Schema 2020-12 transformations", () => {
  it("`exclusiveMinimum: true` (3.0 boolean form) becomes an exclusive bound", () => {
    expectMatchesComponent("FineTuneDPOHyperparameters", { beta: 0.5 });
    expectMatchesComponent("FineTuneDPOHyperparameters", { beta: "auto" });
    expect(validateAgainstComponent("FineTuneDPOHyperparameters", { beta: 0 }).ok).toBe(false);
  });

  it("`$recursiveRef` (CompoundFilter) recurses instead of accepting anything", () => {
    const nested = (inner: unknown) => ({
      type: "and",
      filters: [{ type: "or", filters: [inner] }],
    });
    expectMatchesComponent("CompoundFilter", nested({ type: "eq", key: "a", value: 1 }));
    expect(validateAgainstComponent("CompoundFilter", nested({ type: "eq", key: "a" })).ok).toBe(
      false,
    );
  });
});

// Places where the spec is stricter than (or different from) what api.openai.com actually sends.
// Pinned here so that a spec update that fixes them is noticed.
describe("known spec-vs-live discrepancies", () => {
  it("Response: `user: null` and `usage: null` (live in-progress responses) are rejected", () => {
    expect(errorsOf("Response", { ...minimalResponse(), user: null })).toContain(
      "/user: must be string",
    );
    expect(errorsOf("Response", { ...minimalResponse(), usage: null })).toContain(
      "/usage: must be object",
    );
  });

  it("ResponseUsage requires input_tokens_details.cache_write_tokens", () => {
    const value = minimalResponse();
    value.usage = {
      input_tokens: 5,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 1,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 6,
    };
    expect(errorsOf("Response", value)).toContain(
      "must have required property 'cache_write_tokens'",
    );
  });

  it("Batch: nullable-in-practice fields are typed non-null (the spec's own example fails)", () => {
    const batch = {
      id: "batch_abc123",
      object: "batch",
      endpoint: "/v1/responses",
      input_file_id: "file-abc123",
      completion_window: "24h",
      status: "validating",
      created_at: 1711471533,
      request_counts: { total: 0, completed: 0, failed: 0 },
    };
    expectMatchesComponent("Batch", batch);
    const errors = errorsOf("Batch", {
      ...batch,
      errors: null,
      output_file_id: null,
      in_progress_at: null,
    });
    expect(errors).toContain("/errors: must be object");
    expect(errors).toContain("/output_file_id: must be string");
    expect(errors).toContain("/in_progress_at: must be integer");
  });

  it("list envelopes: first_id/last_id are non-nullable strings", () => {
    const empty = { object: "list", data: [], first_id: null, last_id: null, has_more: false };
    expect(validateAgainstComponent("ListFilesResponse", empty).ok).toBe(false);
    expect(validateAgainstComponent("ListBatchesResponse", empty).ok).toBe(false);
    expect(
      validateAgainstComponent("ListBatchesResponse", { object: "list", data: [], has_more: false })
        .ok,
    ).toBe(true);
  });
});
