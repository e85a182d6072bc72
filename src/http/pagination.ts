import { z } from "zod";

/** Query parameters of OpenAI's cursor lists; unknown parameters are ignored, as OpenAI does. */
export function listQuerySchema(options: {
  maxLimit: number;
  defaultLimit: number;
  defaultOrder: "asc" | "desc";
}) {
  return z.looseObject({
    limit: z.coerce.number().int().min(1).max(options.maxLimit).default(options.defaultLimit),
    order: z.enum(["asc", "desc"]).default(options.defaultOrder),
    after: z.string().min(1).optional(),
    before: z.string().min(1).optional(),
  });
}
