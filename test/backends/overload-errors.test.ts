import net from "node:net";
import { describe, expect, it } from "vitest";
import { BackendError, isOverloadError } from "../../src/backends/backend.js";
import { createOpenAICompatibleBackend } from "../../src/backends/openai-compatible.js";
import { generateRequest } from "../helpers/generate-request.js";

/**
 * Only answers that say the upstream is full lower the adaptive limit and get the overload retry
 * budget: 429, 503 and a refused connection, not every connection failure.
 */

/** A port nothing listens on: bound, read, closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("overload errors", () => {
  it("counts a refused connection as overload", async () => {
    const backend = createOpenAICompatibleBackend({
      name: "gone",
      baseUrl: `http://127.0.0.1:${await closedPort()}/v1`,
      apiKey: null,
      timeoutMs: 5_000,
    });
    try {
      const err = await backend
        .generate(generateRequest("Hello", { model: "llama" }), new AbortController().signal)
        .catch((thrown: unknown) => thrown);
      expect(err).toBeInstanceOf(BackendError);
      expect((err as BackendError).code).toBe("connection_error");
      expect((err as BackendError).isRefused).toBe(true);
      expect(isOverloadError(err)).toBe(true);
    } finally {
      await backend.close?.();
    }
  });

  it("does not count other connection errors, nor other statuses", () => {
    const reset = new BackendError("Upstream x broke off: other side closed", {
      status: null,
      code: "connection_error",
    });
    expect(isOverloadError(reset)).toBe(false);
    expect(isOverloadError(new BackendError("busy", { status: 429 }))).toBe(true);
    expect(isOverloadError(new BackendError("down", { status: 503 }))).toBe(true);
    expect(isOverloadError(new BackendError("broken", { status: 500 }))).toBe(false);
  });
});
