import { Hono } from "hono";
import { CreateEmbeddingRequestSchema } from "../contract/embeddings-request.js";
import type { EmbeddingsService } from "../services/embeddings.js";
import type { AppEnv } from "./app-env.js";
import { abortOnClientGone } from "./client-gone.js";
import { readJsonBody } from "./json-body.js";

export function embeddingsRoutes(deps: { embeddings: EmbeddingsService }) {
  return new Hono<AppEnv>().post("/", async (c) => {
    const request = await readJsonBody(c, CreateEmbeddingRequestSchema);
    return abortOnClientGone(c, async (controller) =>
      c.json(await deps.embeddings.create(request, controller.signal)),
    );
  });
}
