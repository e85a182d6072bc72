import { APIError } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { startTestServer } from "../helpers/server.js";
import { chatChunk, openAIError, startFakeUpstream } from "../helpers/upstream.js";

/**
 * A Chat Completions stream that breaks upstream after it started: the client's last frame is
 * `data: {"error": …}` saying what went wrong, which the official SDK raises as an APIError.
 */

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) {
    await thing.close();
  }
});

async function start(frames: object[], end: "eof" | "destroy") {
  const upstream = await startFakeUpstream(() => ({ kind: "sse", frames, end }));
  open.push(upstream);
  const server = await startTestServer({
    config: {
      backends: [
        {
          type: "openai",
          name: "upstream",
          baseUrl: upstream.baseUrl,
          apiKey: null,
          models: ["*"],
          aliases: {},
          maxConcurrency: 2,
          timeoutMs: 5_000,
          headers: {},
        },
      ],
    },
  });
  open.push({ close: () => server.close({ removeData: true }) });
  return server;
}

async function readRaw(url: string): Promise<string> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], stream: true }),
  });
  expect(res.status).toBe(200);
  return res.text();
}

describe("a chat completions stream that fails upstream", () => {
  it("ends with an error chunk carrying the upstream's message, type and code", async () => {
    const server = await start(
      [
        chatChunk({ role: "assistant", content: "" }),
        chatChunk({ content: "Hel" }),
        openAIError("The model crashed.", { type: "server_error", code: "engine_error" }),
      ],
      "eof",
    );
    const frames = (await readRaw(server.url)).split("\n\n").filter((frame) => frame !== "");
    expect(frames.at(-1)).toBe(
      `data: ${JSON.stringify({
        error: {
          message: "The model crashed.",
          type: "server_error",
          param: null,
          code: "engine_error",
        },
      })}`,
    );

    const stream = await server.openai.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    let text = "";
    const thrown = await (async () => {
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? "";
      }
    })().then(
      () => null,
      (err: unknown) => err,
    );
    expect(text).toBe("Hel");
    expect(thrown).toBeInstanceOf(APIError);
    expect((thrown as APIError).message).toContain("The model crashed.");
    expect((thrown as APIError).code).toBe("engine_error");
  });

  it("says the connection to the upstream was lost when it drops mid-stream", async () => {
    const server = await start(
      [chatChunk({ role: "assistant", content: "" }), chatChunk({ content: "Hel" })],
      "destroy",
    );
    const last = (await readRaw(server.url))
      .split("\n\n")
      .filter((frame) => frame !== "")
      .at(-1);
    const body = JSON.parse(last?.replace(/^data: /, "") ?? "null") as {
      error: { message: string; type: string };
    };
    expect(body.error.type).toBe("server_error");
    expect(body.error.message).toContain("upstream");
    expect(body.error.message).not.toBe("The server had an error while processing your request.");
  });
});
