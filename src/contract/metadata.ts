import { z } from "zod";

/** OpenAI's metadata limits: at most 16 pairs, keys up to 64 characters, string values up to 512. */
export const MAX_METADATA_PAIRS = 16;
export const MAX_METADATA_KEY_LENGTH = 64;
export const MAX_METADATA_VALUE_LENGTH = 512;

export const MetadataSchema = z
  .record(z.string(), z.string({ error: "metadata values must be strings" }))
  .superRefine((metadata, ctx) => {
    const entries = Object.entries(metadata);
    if (entries.length > MAX_METADATA_PAIRS) {
      ctx.addIssue({
        code: "custom",
        message: `metadata has ${entries.length} pairs; at most ${MAX_METADATA_PAIRS} are allowed`,
      });
    }
    for (const [key, value] of entries) {
      if (key.length > MAX_METADATA_KEY_LENGTH) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `metadata keys may be at most ${MAX_METADATA_KEY_LENGTH} characters; this one has ${key.length}`,
        });
      }
      if (value.length > MAX_METADATA_VALUE_LENGTH) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `metadata values may be at most ${MAX_METADATA_VALUE_LENGTH} characters; this one has ${value.length}`,
        });
      }
    }
  });

export type Metadata = z.infer<typeof MetadataSchema>;
