import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

/**
 * A stream whose reader stops early (it went away, or stopped reading and was cut off) lets its
 * backend call go at once, whichever event it stopped at: the backend slot is free again.
 */

let t: TestContext;
beforeEach(() => {
  t = createTestContext({
    config: {
      backends: [
        {
          type: "mock",
          name: "mock",
          models: ["*"],
          aliases: {},
          maxConcurrency: 1,
          ttftMs: null,
          tokensPerSecond: null,
        },
      ],
    },
  });
});
afterEach(() => t.close());

function inFlight(): number {
  return t.services.health.check().backends.find((backend) => backend.name === "mock")
    ?.in_flight as number;
}

const controller = new AbortController();

describe("a stream left after its first event", () => {
  it("frees the slot of a Responses stream", async () => {
    const { responses } = t.services;
    const prepared = await responses.prepare("default", { model: "m", input: "hi", stream: true });
    const events = (await responses.stream(prepared, controller.signal))[Symbol.asyncIterator]();
    expect((await events.next()).value).toMatchObject({ type: "response.created" });
    expect(inFlight()).toBe(1);
    await events.return?.();
    expect(inFlight()).toBe(0);
  });

  it("frees the slot of a Chat Completions stream", async () => {
    const chunks = (
      await t.services.chat.stream(
        "default",
        { model: "m", messages: [{ role: "user", content: "hi" }], stream: true },
        controller.signal,
      )
    )[Symbol.asyncIterator]();
    expect((await chunks.next()).value).toMatchObject({ object: "chat.completion.chunk" });
    expect(inFlight()).toBe(1);
    await chunks.return?.();
    expect(inFlight()).toBe(0);
  });
});
