import { Hono } from "hono";
import { CreateEmbeddingRequestSchema } from "../contract/embeddings-request.js";
import { type EmbeddingsService, serializeEmbeddingList } from "../services/embeddings.js";
import type { FuturesService } from "../services/futures.js";
import type { AppEnv } from "./app-env.js";
import { whileClientConnected } from "./client-gone.js";
import { readJsonBody } from "./json-body.js";
import { answerAsFuture } from "./octoai/futures.js";

export function embeddingsRoutes(deps: { embeddings: EmbeddingsService; futures: FuturesService }) {
  return new Hono<AppEnv>().post("/", async (c) => {
    const request = await readJsonBody(c, CreateEmbeddingRequestSchema);
    const future = await answerAsFuture(c, deps.futures, "/v1/embeddings", request);
    if (future !== null) {
      return future;
    }
    const answer = await whileClientConnected(c, (signal) =>
      deps.embeddings.answer(request, signal),
    );
    const chunks = serializeEmbeddingList(answer);
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await chunks.next();
        if (next.done === true) {
          controller.close();
        } else {
          controller.enqueue(encoder.encode(next.value));
        }
      },
      async cancel() {
        await chunks.return(undefined);
      },
    });
    return c.body(body, 200, { "content-type": "application/json" });
  });
}
