import { describe, expect, it } from "vitest";
import { startOneTurnEach } from "../../src/lib/one-turn-each.js";

describe("startOneTurnEach", () => {
  it("lets the event loop run between one start and the next, and keeps the results in order", async () => {
    const log: string[] = [];
    const results = await startOneTurnEach(["a", "b", "c"], async (item, index) => {
      log.push(`start ${index}`);
      // Work the event loop owes others, queued by this start: it must run before the next start.
      setImmediate(() => log.push(`other ${index}`));
      return item.toUpperCase();
    });

    expect(results).toEqual(["A", "B", "C"]);
    expect(log.indexOf("other 0")).toBeLessThan(log.indexOf("start 1"));
    expect(log.indexOf("other 1")).toBeLessThan(log.indexOf("start 2"));
  });

  it("runs the starts concurrently: a slow first one does not hold back the rest", async () => {
    const finished: number[] = [];
    await startOneTurnEach([30, 0, 0], async (delayMs, index) => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      finished.push(index);
    });
    expect(finished).toEqual([1, 2, 0]);
  });
});
