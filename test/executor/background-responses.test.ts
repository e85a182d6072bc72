import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLaneShares } from "../../src/executor/lane-shares.js";
import { createClaimRotation } from "../../src/store/work-items.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, parseSseFrames, type TestContext } from "../helpers/test-app.js";

/** Fresh claim state: equal lane weights, no one served yet. */
function newFairness() {
  return { lanes: createLaneShares(new Map()), rotation: createClaimRotation() };
}

/** Background responses through the app, with the executor driven by hand. */

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

async function createBackground(body: Record<string, unknown>) {
  const res = await t.post("/v1/responses", {
    model: "gpt-4o-mini",
    input: "hello",
    background: true,
    ...body,
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { id: string; status: string };
}

async function getResponse(id: string) {
  return (await (await t.get(`/v1/responses/${id}`)).json()) as Record<string, unknown> & {
    status: string;
  };
}

async function runAll() {
  const { executor } = t.services;
  while (executor.runOnce() > 0 || executor.inFlight() > 0) {
    await executor.drain();
  }
}

describe("background responses", () => {
  it("answer queued at once, then complete when the executor runs", async () => {
    const created = await createBackground({});
    expect(created.status).toBe("queued");
    expectMatchesComponent("Response", created);
    expect((await getResponse(created.id)).status).toBe("queued");
    await runAll();
    const done = await getResponse(created.id);
    expect(done.status).toBe("completed");
    expectMatchesComponent("Response", done);
    expect(done.background).toBe(true);
  });

  it("give the same text as a sync response to the same request", async () => {
    const sync = (await (
      await t.post("/v1/responses", { model: "gpt-4o-mini", input: "hello" })
    ).json()) as {
      output: unknown;
    };
    const created = await createBackground({});
    await runAll();
    const done = await getResponse(created.id);
    expect(JSON.stringify(done.output).replace(/msg_\w+/g, "")).toBe(
      JSON.stringify(sync.output).replace(/msg_\w+/g, ""),
    );
  });

  it("end failed with the backend's error once retries are spent", async () => {
    // A 500, not a 503: an overload answer gets the larger overload budget (retry.ts).
    const created = await createBackground({ metadata: { mock_error: "500" } });
    for (let i = 0; i < 20; i++) {
      await runAll();
      if ((await getResponse(created.id)).status === "failed") {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10)); // backoff is 1-5 ms in tests
    }
    const failed = await getResponse(created.id);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatchObject({
      code: "server_error",
      message: expect.stringContaining("500"),
    });
    expectMatchesComponent("Response", failed);
  });

  it("fail at once on a 4xx the backend will not take", async () => {
    const created = await createBackground({ metadata: { mock_error: "400" } });
    await runAll();
    const failed = await getResponse(created.id);
    expect(failed.status).toBe("failed");
  });

  it("cancel while queued, idempotently, and stay cancelled", async () => {
    const created = await createBackground({});
    const first = await t.post(`/v1/responses/${created.id}/cancel`, "");
    expect(first.status).toBe(200);
    expect(((await first.json()) as { status: string }).status).toBe("cancelled");
    const again = await t.post(`/v1/responses/${created.id}/cancel`, "");
    expect(((await again.json()) as { status: string }).status).toBe("cancelled");
    await runAll();
    expect((await getResponse(created.id)).status).toBe("cancelled");
  });

  it("cancel while running aborts the backend call", async () => {
    t.services.executor.start();
    const created = await createBackground({ metadata: { mock_delay_ms: "60000" } });
    for (let i = 0; i < 100 && (await getResponse(created.id)).status !== "in_progress"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect((await getResponse(created.id)).status).toBe("in_progress");
    const cancelled = await t.post(`/v1/responses/${created.id}/cancel`, "");
    expect(((await cancelled.json()) as { status: string }).status).toBe("cancelled");
    await t.services.executor.drain(); // returns only because the 60 s call was aborted
    expect(t.services.executor.inFlight()).toBe(0);
    expect((await getResponse(created.id)).status).toBe("cancelled");
  });

  it("refuse to cancel a synchronous response", async () => {
    const sync = (await (await t.post("/v1/responses", { model: "m", input: "x" })).json()) as {
      id: string;
    };
    const res = await t.post(`/v1/responses/${sync.id}/cancel`, "");
    expect(res.status).toBe(400);
    expectMatchesComponent("ErrorResponse", await res.json());
    expect((await t.post("/v1/responses/resp_missing/cancel", "")).status).toBe(404);
  });

  it("stream live and replay from a sequence number", async () => {
    t.services.executor.start();
    const res = await t.post("/v1/responses", {
      model: "m",
      input: "stream it",
      background: true,
      stream: true,
    });
    const frames = parseSseFrames(await res.text()).map(
      (frame) => JSON.parse(frame.data) as { type: string; sequence_number: number },
    );
    expect(frames.map((frame) => frame.type).slice(0, 4)).toEqual([
      "response.created",
      "response.queued",
      "response.in_progress",
      "response.output_item.added",
    ]);
    expect(frames.at(-1)?.type).toBe("response.completed");
    frames.forEach((frame, index) => {
      expect(frame.sequence_number).toBe(index);
      expectMatchesComponent("ResponseStreamEvent", frame);
    });
    const id = (frames[0] as unknown as { response: { id: string } }).response.id;
    const replay = await t.get(`/v1/responses/${id}?stream=true&starting_after=5`);
    const replayed = parseSseFrames(await replay.text()).map(
      (frame) => JSON.parse(frame.data) as { sequence_number: number },
    );
    expect(replayed.map((frame) => frame.sequence_number)).toEqual(
      frames.slice(6).map((frame) => frame.sequence_number),
    );
  });

  it("refuse to stream a response not created with stream=true", async () => {
    const created = await createBackground({});
    const res = await t.get(`/v1/responses/${created.id}?stream=true`);
    expect(res.status).toBe(400);
  });
});

describe("the work queue", () => {
  it("runs background responses of several projects round-robin", async () => {
    const { executor } = t.services;
    const order: string[] = [];
    // Two owners in one lane: claims alternate between them whatever the insertion order.
    const work = await import("../../src/store/work-items.js");
    const store = work.createWorkStore(t.db);
    for (let i = 0; i < 4; i++) {
      store.enqueue({
        kind: "noop",
        subjectId: `a${i}`,
        projectId: "a",
        lane: 2,
        ownerKey: "a",
        backend: "mock",
        payload: {},
        nowMs: 0,
      });
    }
    for (let i = 0; i < 2; i++) {
      store.enqueue({
        kind: "noop",
        subjectId: `b${i}`,
        projectId: "b",
        lane: 2,
        ownerKey: "b",
        backend: "mock",
        payload: {},
        nowMs: 0,
      });
    }
    const fairness = { lanes: createLaneShares(new Map()), rotation: createClaimRotation() };
    for (let i = 0; i < 6; i++) {
      const [item] = store.claim({
        backend: "mock",
        leaseOwner: "test",
        limit: 1,
        nowMs: 1,
        leaseMs: 1000,
        ...fairness,
      });
      order.push(item?.subjectId ?? "none");
    }
    expect(order).toEqual(["a0", "b0", "a1", "b1", "a2", "a3"]);
    expect(executor.inFlight()).toBe(0);
  });

  it("claims higher-priority lanes first", () => {
    return import("../../src/store/work-items.js").then(({ createWorkStore }) => {
      const store = createWorkStore(t.db);
      store.enqueue({
        kind: "k",
        subjectId: "batch",
        projectId: "p",
        lane: 2,
        ownerKey: "p",
        backend: "mock",
        payload: {},
        nowMs: 0,
      });
      store.enqueue({
        kind: "k",
        subjectId: "background",
        projectId: "p",
        lane: 0,
        ownerKey: "p",
        backend: "mock",
        payload: {},
        nowMs: 0,
      });
      const claimed = store.claim({
        backend: "mock",
        leaseOwner: "x",
        limit: 1,
        nowMs: 1,
        leaseMs: 1000,
        ...newFairness(),
      });
      expect(claimed.map((item) => item.subjectId)).toEqual(["background"]);
    });
  });

  it("records a result only while the lease is held", () => {
    return import("../../src/store/work-items.js").then(({ createWorkStore }) => {
      const store = createWorkStore(t.db);
      const id = store.enqueue({
        kind: "k",
        subjectId: "s",
        projectId: "p",
        lane: 0,
        ownerKey: "p",
        backend: "mock",
        payload: {},
        nowMs: 0,
      });
      store.claim({
        backend: "mock",
        leaseOwner: "dead",
        limit: 1,
        nowMs: 0,
        leaseMs: 100,
        ...newFairness(),
      });
      expect(store.requeueExpired(50)).toBe(0); // lease still valid
      expect(store.requeueExpired(200)).toBe(1); // the owner died: back to the queue
      const [again] = store.claim({
        backend: "mock",
        leaseOwner: "alive",
        limit: 1,
        nowMs: 200,
        leaseMs: 100,
        ...newFairness(),
      });
      expect(again?.attempts).toBe(2);
      // The dead owner's late result is dropped; the live owner's is kept, once.
      expect(store.finish(id, "dead", "succeeded", 300, null)).toBe(false);
      expect(store.finish(id, "alive", "succeeded", 300, null)).toBe(true);
      expect(store.finish(id, "alive", "succeeded", 300, null)).toBe(false);
    });
  });

  it("waits out not_before before running a retry", () => {
    return import("../../src/store/work-items.js").then(({ createWorkStore }) => {
      const store = createWorkStore(t.db);
      const id = store.enqueue({
        kind: "k",
        subjectId: "s",
        projectId: "p",
        lane: 0,
        ownerKey: "p",
        backend: "mock",
        payload: {},
        nowMs: 0,
      });
      store.claim({
        backend: "mock",
        leaseOwner: "o",
        limit: 1,
        nowMs: 0,
        leaseMs: 1000,
        ...newFairness(),
      });
      expect(store.retryLater(id, "o", 500, "HTTP 503")).toBe(true);
      expect(
        store.claim({
          backend: "mock",
          leaseOwner: "o",
          limit: 1,
          nowMs: 499,
          leaseMs: 1000,
          ...newFairness(),
        }),
      ).toHaveLength(0);
      expect(
        store.claim({
          backend: "mock",
          leaseOwner: "o",
          limit: 1,
          nowMs: 500,
          leaseMs: 1000,
          ...newFairness(),
        }),
      ).toHaveLength(1);
    });
  });
});
