import type { ResolvedModel, Router } from "../backends/router.js";
import { isValidModelName } from "../contract/model-name.js";
import { ApiError } from "../lib/api-error.js";

/** OpenAI's Model object. `created` is unix seconds; ferry has no release dates, so it is fixed. */
export interface ModelObject {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

// 2024-01-01T00:00:00Z: a stable, plausible value rather than "now" on every call.
const MODEL_CREATED_AT = 1_704_067_200;

export function resolveModel(router: Router, model: string): ResolvedModel {
  const resolved = router.resolve(model);
  if (resolved === null) {
    throw new ApiError(
      404,
      `The model '${model}' does not exist or you do not have access to it.`,
      {
        param: "model",
        code: "model_not_found",
        headers: { "x-should-retry": "false" },
      },
    );
  }
  return resolved;
}

export function createModelsService(router: Router) {
  const toObject = (id: string, ownedBy: string): ModelObject => ({
    id,
    object: "model",
    created: MODEL_CREATED_AT,
    owned_by: ownedBy,
  });
  return {
    list(): { object: "list"; data: ModelObject[] } {
      return {
        object: "list",
        data: router.listModels().map((model) => toObject(model.id, model.ownedBy)),
      };
    },
    /** Any name a backend serves is a model, including names a wildcard backend was never told. */
    retrieve(id: string): ModelObject {
      const listed = router.listModels().find((model) => model.id === id);
      if (listed !== undefined) {
        return toObject(listed.id, listed.ownedBy);
      }
      // A name no request could use (too long, control characters) is no model, wildcard or not.
      const resolved = isValidModelName(id) ? router.resolve(id) : null;
      if (resolved === null) {
        throw ApiError.notFound(
          `The model '${id}' does not exist or you do not have access to it.`,
        );
      }
      return toObject(id, resolved.backend.name);
    },
  };
}

export type ModelsService = ReturnType<typeof createModelsService>;
