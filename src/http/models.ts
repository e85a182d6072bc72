import { Hono } from "hono";
import type { ModelsService } from "../services/models.js";
import type { AppEnv } from "./app-env.js";

export function modelsRoutes(deps: { models: ModelsService }) {
  return new Hono<AppEnv>()
    .get("/", (c) => c.json(deps.models.list()))
    .get("/:id{.+}", (c) => c.json(deps.models.retrieve(c.req.param("id"))));
}
