import { createHmac, randomBytes } from "node:crypto";

/**
 * Standard Webhooks signatures, the scheme OpenAI signs its webhooks with and the official SDK's
 * `webhooks.unwrap()` verifies: HMAC-SHA256 over `${webhook-id}.${webhook-timestamp}.${body}`,
 * keyed by the bytes the `whsec_` secret's base64 encodes, sent as `v1,<base64>`. Several
 * secrets (the old one kept valid after a rotation) give several space-separated signatures;
 * the receiver accepts a match with any.
 */

const SECRET_PREFIX = "whsec_";
const SECRET_BYTES = 32;

/** A new signing secret: `whsec_` and 32 random bytes in base64, as OpenAI's look. */
export function newSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString("base64");
}

/** The key a secret stands for: a `whsec_` secret's decoded bytes, any other string's UTF-8. */
function secretKey(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX)
    ? Buffer.from(secret.slice(SECRET_PREFIX.length), "base64")
    : Buffer.from(secret, "utf8");
}

export type SignedHeaders = Record<
  "webhook-id" | "webhook-timestamp" | "webhook-signature",
  string
>;

export function signWebhook(input: {
  id: string;
  timestampSeconds: number;
  body: string;
  secrets: readonly string[];
}): SignedHeaders {
  const timestamp = String(input.timestampSeconds);
  const signed = `${input.id}.${timestamp}.${input.body}`;
  const signatures = input.secrets.map(
    (secret) => `v1,${createHmac("sha256", secretKey(secret)).update(signed).digest("base64")}`,
  );
  return {
    "webhook-id": input.id,
    "webhook-timestamp": timestamp,
    "webhook-signature": signatures.join(" "),
  };
}

/** What listings show of a secret: its prefix and first and last four characters. */
export function secretHint(secret: string): string {
  const body = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  return `${SECRET_PREFIX}${body.slice(0, 4)}…${body.slice(-4)}`;
}
