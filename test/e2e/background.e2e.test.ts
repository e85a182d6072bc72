import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** Background responses with the official SDK, over a real socket, executor running. */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close({ removeData: true });
});

async function waitForStatus(id: string, wanted: (status: string) => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await s.openai.responses.retrieve(id);
    if (wanted(response.status ?? "") || Date.now() > deadline) {
      return response;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("background responses with the SDK", () => {
  it("answers queued, then completes", async () => {
    const created = await s.openai.responses.create({
      model: "gpt-4o-mini",
      input: "Summarise the plot of Hamlet",
      background: true,
    });
    expect(created.status).toBe("queued");
    expect(created.background).toBe(true);
    const done = await waitForStatus(created.id, (status) => status === "completed");
    expect(done.status).toBe("completed");
    expect(done.output_text.length).toBeGreaterThan(10);
    expectMatchesComponent("Response", done);
  });

  it("cancels a response mid-flight (metadata.mock_delay_ms) and it stays cancelled", async () => {
    const created = await s.openai.responses.create({
      model: "gpt-4o-mini",
      input: "slow one",
      background: true,
      metadata: { mock_delay_ms: "30000" },
    });
    const running = await waitForStatus(created.id, (status) => status === "in_progress");
    expect(running.status).toBe("in_progress");
    const cancelled = await s.openai.responses.cancel(created.id);
    expect(cancelled.status).toBe("cancelled");
    expect((await s.openai.responses.cancel(created.id)).status).toBe("cancelled"); // idempotent
    await new Promise((resolve) => setTimeout(resolve, 200));
    const later = await s.openai.responses.retrieve(created.id);
    expect(later.status).toBe("cancelled");
    expect(later.output).toEqual([]);
    const health = (await (await fetch(`${s.url}/health`)).json()) as {
      backends: { in_flight: number }[];
    };
    expect(health.backends[0]?.in_flight).toBe(0); // the 30 s mock call was aborted
  });

  it("streams live with background + stream, and resumes from a sequence number", async () => {
    const stream = await s.openai.responses.create({
      model: "gpt-4o-mini",
      input: "Stream in the background",
      background: true,
      stream: true,
    });
    const live: { type: string; sequence_number: number }[] = [];
    let id = "";
    for await (const event of stream) {
      live.push(event);
      if (event.type === "response.created") {
        id = event.response.id;
      }
    }
    expect(live.map((event) => event.type).slice(0, 3)).toEqual([
      "response.created",
      "response.queued",
      "response.in_progress",
    ]);
    expect(live.at(-1)?.type).toBe("response.completed");

    // GET /v1/responses/{id}?stream=true&starting_after=N replays what came after N.
    const resumed = await s.openai.responses.retrieve(id, { stream: true, starting_after: 4 });
    const replayed: number[] = [];
    for await (const event of resumed) {
      replayed.push(event.sequence_number);
    }
    expect(replayed).toEqual(
      live.filter((event) => event.sequence_number > 4).map((event) => event.sequence_number),
    );

    // The SDK's stream helper resumes the same way (it filters by sequence number itself).
    const helper = s.openai.responses.stream({ response_id: id, starting_after: 4 });
    const final = await helper.finalResponse();
    expect(final.status).toBe("completed");
  });

  it("reports a backend failure on the response, with code and message", async () => {
    const created = await s.openai.responses.create({
      model: "gpt-4o-mini",
      input: "fail please",
      background: true,
      metadata: { mock_error: "400" },
    });
    const failed = await waitForStatus(created.id, (status) => status === "failed");
    expect(failed.status).toBe("failed");
    expect(failed.error?.code).toBe("invalid_prompt");
    expect(failed.error?.message).toMatch(/400/);
  });
});
