import { createPrivateKey, X509Certificate } from "node:crypto";
import { z } from "zod";

/**
 * ferry's per-request callback fields (Scale Launch's names), accepted on background responses
 * and batches: `callback_url`, `callback_auth` and `callback_secret`. The SDKs pass extra body
 * fields through unchanged (`extra_body` in Python, a cast in Node). Only their shape is checked
 * here; the URL's destination is checked by the service (checkOutboundUrl), which resolves it.
 */
const PemCertificateSchema = z.string().refine(isCertificate, {
  message: "must be a certificate in PEM form (-----BEGIN CERTIFICATE-----)",
});

const PemKeySchema = z.string().refine(isPrivateKey, {
  message: "must be an unencrypted private key in PEM form (-----BEGIN PRIVATE KEY-----)",
});

export const CallbackAuthSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("basic"),
    username: z.string().min(1).max(1024),
    password: z.string().max(1024),
  }),
  z.strictObject({
    kind: z.literal("mtls"),
    /** The client certificate ferry presents. */
    cert: PemCertificateSchema,
    key: PemKeySchema,
    /** The CA that signed the receiver's server certificate, when it is not a public one. */
    ca: PemCertificateSchema.optional(),
  }),
]);

export type CallbackAuth = z.infer<typeof CallbackAuthSchema>;

export const CALLBACK_FIELDS = {
  callback_url: z.string().min(1).max(2048).optional(),
  callback_auth: CallbackAuthSchema.nullable().optional(),
  /** Signs the delivery (Standard Webhooks: a `whsec_` secret or any string of 16+ characters). */
  callback_secret: z.string().min(16).max(512).optional(),
} as const;

/** The callback fields of a request, as the schemas above parse them. */
export interface CallbackFields {
  readonly callback_url?: string | undefined;
  readonly callback_auth?: CallbackAuth | null | undefined;
  readonly callback_secret?: string | undefined;
}

function isCertificate(text: string): boolean {
  try {
    new X509Certificate(text);
    return text.includes("-----BEGIN CERTIFICATE-----");
  } catch {
    return false;
  }
}

function isPrivateKey(text: string): boolean {
  try {
    createPrivateKey(text);
    return text.includes("PRIVATE KEY-----");
  } catch {
    return false;
  }
}
