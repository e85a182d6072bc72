import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** The official `openai` SDK against the real server over a real socket. */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close({ removeData: true });
});

describe("responses", () => {
  it("creates a response the SDK reads, with output_text and a request id", async () => {
    const response = await s.openai.responses.create({
      model: "gpt-4o-mini",
      input: "Explain vector clocks briefly",
    });
    expectMatchesComponent("Response", response);
    expect(response.id).toMatch(/^resp_/);
    expect(response.status).toBe("completed");
    expect(response.output_text.length).toBeGreaterThan(20);
    expect(response._request_id).toMatch(/^req_/);
    expect(response.usage?.total_tokens).toBe(
      (response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0),
    );
  });

  it("streams with create({stream: true}) and the responses.stream() helper", async () => {
    const { data: stream, response: http } = await s.openai.responses
      .create({ model: "gpt-4o-mini", input: "Stream me a reply", stream: true })
      .withResponse();
    expect(http.headers.get("x-request-id")).toMatch(/^req_/);
    const types: string[] = [];
    let text = "";
    let completedText = "";
    for await (const event of stream) {
      expectMatchesComponent("ResponseStreamEvent", event);
      types.push(event.type);
      if (event.type === "response.output_text.delta") {
        text += event.delta;
      }
      if (event.type === "response.completed") {
        // output_text is an SDK convenience only on create/retrieve results; events carry output.
        completedText = event.response.output
          .flatMap((item) => (item.type === "message" ? item.content : []))
          .map((part) => (part.type === "output_text" ? part.text : ""))
          .join("");
      }
    }
    expect(types.slice(0, 4)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
    ]);
    expect(types.slice(-4)).toEqual([
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(text).toBe(completedText);

    // The stricter helper: throws on unknown event types or out-of-order items.
    const helper = s.openai.responses.stream({ model: "gpt-4o-mini", input: "Stream me a reply" });
    const final = await helper.finalResponse();
    expect(final.output_text).toBe(text);
    const stored = await s.openai.responses.retrieve(final.id);
    expect(stored.output_text).toBe(text);
  });

  it("reports an incomplete response when max_output_tokens cuts it", async () => {
    const response = await s.openai.responses.create({
      model: "gpt-4o-mini",
      input: "Tell me everything about distributed consensus",
      max_output_tokens: 16,
    });
    expect(response.status).toBe("incomplete");
    expect(response.incomplete_details?.reason).toBe("max_output_tokens");
    expect(response.usage?.output_tokens).toBe(16);
  });

  it("retrieves, lists input items with auto-pagination, and deletes", async () => {
    const input = Array.from({ length: 5 }, (_, i) => ({
      role: "user" as const,
      content: `message ${i}`,
    }));
    const created = await s.openai.responses.create({ model: "gpt-4o-mini", input });
    const retrieved = await s.openai.responses.retrieve(created.id);
    expectMatchesComponent("Response", retrieved);
    expect(retrieved.output_text).toBe(created.output_text);

    const texts: string[] = [];
    for await (const item of s.openai.responses.inputItems.list(created.id, {
      limit: 2,
      order: "asc",
    })) {
      if (item.type === "message" && item.content[0]?.type === "input_text") {
        texts.push(item.content[0].text);
      }
    }
    expect(texts).toEqual(["message 0", "message 1", "message 2", "message 3", "message 4"]);
    const firstPage = await s.openai.responses.inputItems.list(created.id, { limit: 2 });
    const rawPage = await s.openai.responses.inputItems.list(created.id, { limit: 2 }).asResponse();
    expectMatchesComponent("ResponseItemList", await rawPage.json());
    expect(
      firstPage.data.map(
        (item) =>
          item.type === "message" && item.content[0]?.type === "input_text" && item.content[0].text,
      ),
    ).toEqual(["message 4", "message 3"]);

    await s.openai.responses.delete(created.id);
    await expect(s.openai.responses.retrieve(created.id)).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
  });

  it("continues a conversation with previous_response_id", async () => {
    const first = await s.openai.responses.create({
      model: "gpt-4o-mini",
      input: "My name is Ada.",
    });
    const second = await s.openai.responses.create({
      model: "gpt-4o-mini",
      input: "What is my name?",
      previous_response_id: first.id,
    });
    const standalone = await s.openai.responses.create({
      model: "gpt-4o-mini",
      input: "What is my name?",
    });
    expect(second.previous_response_id).toBe(first.id);
    expect(second.usage?.input_tokens).toBeGreaterThan(standalone.usage?.input_tokens ?? 0);
    const items = await s.openai.responses.inputItems.list(second.id);
    expect(items.data).toHaveLength(1);
  });

  it("raises the SDK's error classes for 400 and 404", async () => {
    const badRequest = s.openai.responses.create({
      model: "gpt-4o-mini",
      input: "x",
      temperature: 7,
    });
    await expect(badRequest).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await badRequest.catch((err: InstanceType<typeof OpenAI.BadRequestError>) => {
      expect(err.status).toBe(400);
      expect(err.param).toBe("temperature");
      expect(err.requestID).toMatch(/^req_/);
      expectMatchesComponent("ErrorResponse", { error: err.error });
    });
    await expect(s.openai.responses.retrieve("resp_missing")).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    const unknownPrevious = s.openai.responses.create({
      model: "m",
      input: "x",
      previous_response_id: "resp_nope",
    });
    await expect(unknownPrevious).rejects.toMatchObject({
      status: 400,
      code: "previous_response_not_found",
    });
  });
});

describe("chat completions", () => {
  it("answers sync and streams with usage", async () => {
    const messages = [{ role: "user" as const, content: "Say something about tides" }];
    const completion = await s.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    expectMatchesComponent("CreateChatCompletionResponse", completion);
    expect(completion.choices[0]?.finish_reason).toBe("stop");

    const stream = await s.openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usageChunks = 0;
    for await (const chunk of stream) {
      expectMatchesComponent("CreateChatCompletionStreamResponse", chunk);
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) {
        usageChunks++;
        expect(chunk.choices).toEqual([]);
        expect(chunk.usage).toEqual(completion.usage);
      }
    }
    expect(usageChunks).toBe(1);
    expect(text).toBe(completion.choices[0]?.message.content);

    const limited = await s.openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      max_completion_tokens: 3,
    });
    expect(limited.choices[0]?.finish_reason).toBe("length");

    const helper = s.openai.chat.completions.stream({ model: "gpt-4o-mini", messages });
    expect((await helper.finalChatCompletion()).choices[0]?.message.content).toBe(text);
  });
});

describe("embeddings and models", () => {
  it("returns float and (the SDK default) base64 embeddings that agree", async () => {
    const floats = await s.openai.embeddings.create({
      model: "text-embedding-3-small",
      input: ["alpha", "beta"],
      encoding_format: "float",
    });
    expectMatchesComponent("CreateEmbeddingResponse", floats);
    expect(floats.data).toHaveLength(2);
    expect(floats.data[0]?.embedding).toHaveLength(1536);
    // No encoding_format: the SDK asks for base64 and decodes it to numbers itself.
    const decoded = await s.openai.embeddings.create({
      model: "text-embedding-3-small",
      input: ["alpha", "beta"],
    });
    expect(decoded.data[0]?.embedding).toHaveLength(1536);
    decoded.data[0]?.embedding.forEach((value, i) => {
      expect(value).toBeCloseTo(floats.data[0]?.embedding[i] ?? Number.NaN, 6);
    });
    const large = await s.openai.embeddings.create({
      model: "text-embedding-3-large",
      input: "x",
      dimensions: 256,
    });
    expect(large.data[0]?.embedding).toHaveLength(256);
  });

  it("lists and retrieves models", async () => {
    const models = await s.openai.models.list();
    expectMatchesComponent(
      "ListModelsResponse",
      await s.openai.models
        .list()
        .asResponse()
        .then((r) => r.json()),
    );
    expect(models.data.map((model) => model.id)).toContain("gpt-4o-mini");
    const model = await s.openai.models.retrieve("my-local-model");
    expectMatchesComponent("Model", model);
  });
});

describe("persistence", () => {
  it("keeps stored responses across a restart on the same data dir", async () => {
    const first = await startTestServer();
    const created = await first.openai.responses.create({
      model: "gpt-4o-mini",
      input: "Remember me",
    });
    await first.close();
    const second = await startTestServer({ dataDir: first.dataDir });
    try {
      const retrieved = await second.openai.responses.retrieve(created.id);
      expect(retrieved.output_text).toBe(created.output_text);
    } finally {
      await second.close({ removeData: true });
    }
  });
});
