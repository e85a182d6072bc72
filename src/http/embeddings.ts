import { Hono } from "hono";
import { CreateEmbeddingRequestSchema } from "../contract/embeddings-request.js";
import type { EmbeddingsService } from "../services/embeddings.js";
import type { AppEnv } from "./app-env.js";
import { whileClientConnected } from "./client-gone.js";
import { readJsonBody } from "./json-body.js";

export function embeddingsRoutes(deps: { embeddings: EmbeddingsService }) {
  return new Hono<AppEnv>().post("/", async (c) => {
    const request = await readJsonBody(c, CreateEmbeddingRequestSchema);
    return c.json(
      await whileClientConnected(c, (signal) => deps.embeddings.create(request, signal)),
    );
  });
}
