import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

/**
 * A completions stream whose reader stops early lets its backend call go at once, wherever it
 * stopped: after the echoed prompt, mid-text, or between two choices.
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

async function openStream(body: Record<string, unknown>) {
  const chunks = await t.services.completions.stream(
    { model: "m", prompt: "Tell me about the tides", stream: true, ...body },
    controller.signal,
  );
  return chunks[Symbol.asyncIterator]();
}

describe("a completions stream left early", () => {
  it("frees the slot when left after the echoed prompt", async () => {
    const chunks = await openStream({ echo: true });
    expect((await chunks.next()).value).toMatchObject({
      object: "text_completion",
      choices: [{ text: "Tell me about the tides", finish_reason: null }],
    });
    expect(inFlight()).toBe(1);
    await chunks.return?.();
    expect(inFlight()).toBe(0);
  });

  it("frees the slot when left in the second choice", async () => {
    const chunks = await openStream({ n: 2, max_tokens: 3 });
    for (;;) {
      const { value } = await chunks.next();
      if (value?.choices[0]?.index === 1) {
        break;
      }
    }
    expect(inFlight()).toBe(1);
    await chunks.return?.();
    expect(inFlight()).toBe(0);
  });
});
