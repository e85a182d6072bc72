import { Hono } from "hono";
import { CreateChatCompletionRequestSchema } from "../contract/chat-request.js";
import type { Logger } from "../lib/logger.js";
import type { ChatCompletionsService } from "../services/chat-completions.js";
import type { FuturesService } from "../services/futures.js";
import type { AppEnv } from "./app-env.js";
import { abortOnClientGone, whileClientConnected } from "./client-gone.js";
import { readJsonBody } from "./json-body.js";
import { answerAsFuture } from "./octoai/futures.js";
import { writeSse } from "./sse.js";

export function chatCompletionsRoutes(deps: {
  chat: ChatCompletionsService;
  futures: FuturesService;
  logger: Logger;
  writeTimeoutMs: number;
}) {
  return new Hono<AppEnv>().post("/", async (c) => {
    const request = await readJsonBody(c, CreateChatCompletionRequestSchema);
    const future = await answerAsFuture(c, deps.futures, "/v1/chat/completions", request);
    if (future !== null) {
      return future;
    }
    if (request.stream === true) {
      return abortOnClientGone(c, async (controller) => {
        const chunks = await deps.chat.stream(c.get("projectId"), request, controller.signal);
        return writeSse(c, chunks, {
          controller,
          framing: "data-only",
          logger: deps.logger,
          writeTimeoutMs: deps.writeTimeoutMs,
        });
      });
    }
    return c.json(
      await whileClientConnected(c, (signal) =>
        deps.chat.complete(c.get("projectId"), request, signal),
      ),
    );
  });
}
