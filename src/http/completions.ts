import { Hono } from "hono";
import { CreateCompletionRequestSchema } from "../contract/completions-request.js";
import type { Logger } from "../lib/logger.js";
import type { CompletionsService } from "../services/completions.js";
import type { FuturesService } from "../services/futures.js";
import type { AppEnv } from "./app-env.js";
import { abortOnClientGone, whileClientConnected } from "./client-gone.js";
import { readJsonBody } from "./json-body.js";
import { answerAsFuture } from "./octoai/futures.js";
import { writeSse } from "./sse.js";

/** `POST /v1/completions`, the legacy Completions API; streamed as data-only SSE like Chat. */
export function completionsRoutes(deps: {
  completions: CompletionsService;
  futures: FuturesService;
  logger: Logger;
  writeTimeoutMs: number;
}) {
  return new Hono<AppEnv>().post("/", async (c) => {
    const request = await readJsonBody(c, CreateCompletionRequestSchema);
    const future = await answerAsFuture(c, deps.futures, "/v1/completions", request);
    if (future !== null) {
      return future;
    }
    if (request.stream === true) {
      return abortOnClientGone(c, async (controller) => {
        const chunks = await deps.completions.stream(request, controller.signal);
        return writeSse(c, chunks, {
          controller,
          framing: "data-only",
          logger: deps.logger,
          writeTimeoutMs: deps.writeTimeoutMs,
        });
      });
    }
    return c.json(
      await whileClientConnected(c, (signal) => deps.completions.complete(request, signal)),
    );
  });
}
