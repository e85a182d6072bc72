import type { CallbackFields } from "../contract/callback-request.js";
import { ApiError } from "../lib/api-error.js";
import type { RequestCallbackStore } from "../store/request-callbacks.js";
import { checkOutboundUrl, type OutboundPolicy } from "./outbound-url.js";
import type { CallbackTarget, DeliveryDirectory } from "./outbox.js";
import type { SecretBox } from "./secret-box.js";

/**
 * Per-request callbacks (the Scale Launch model): a background response or batch may name a URL
 * that ferry POSTs the finished object to, with basic or mTLS credentials and a signing secret.
 * A request's callback is checked (`check`, before anything is written), then written with its
 * subject (`save`, inside the transaction or group commit that writes the response or batch),
 * with the credentials and secret sealed (secret-box.ts). The outbox and the delivery lane read
 * it back through `hasCallback` and `callbackOf`.
 */

/** A request's callback, checked and ready to be written with its subject. */
export interface PendingCallback {
  readonly url: string;
  readonly auth: CallbackTarget["auth"];
  readonly secret: string | null;
}

export interface Callbacks extends Pick<DeliveryDirectory, "hasCallback" | "callbackOf"> {
  /**
   * The request's callback, its URL's destination checked (SSRF: a 400 naming `callback_url`),
   * or null when it has none. Auth or a secret without a URL is a 400 naming that field.
   */
  check(fields: CallbackFields): Promise<PendingCallback | null>;
  /** Inside the subject's own write: stores the callback, credentials sealed. */
  save(
    subject: { projectId: string; subjectId: string; createdAt: number },
    callback: PendingCallback,
  ): void;
}

export function createCallbacks(deps: {
  store: RequestCallbackStore;
  /** Made on first use: a server whose clients never give a callback never needs a key. */
  box: () => SecretBox;
  policy: OutboundPolicy;
}): Callbacks {
  const { store } = deps;
  return {
    async check(fields) {
      if (fields.callback_url === undefined) {
        for (const field of ["callback_auth", "callback_secret"] as const) {
          if (fields[field] !== undefined && fields[field] !== null) {
            throw ApiError.invalid(
              field,
              `'${field}' was given without 'callback_url'; give the URL ferry should call back.`,
            );
          }
        }
        return null;
      }
      const url = await checkOutboundUrl(fields.callback_url, deps.policy, "callback_url");
      const auth = fields.callback_auth ?? null;
      if (auth?.kind === "mtls" && url.protocol !== "https:") {
        throw ApiError.invalid(
          "callback_url",
          "Invalid 'callback_url': an mtls callback needs an https URL (the client certificate is presented in the TLS handshake).",
          "invalid_url",
        );
      }
      return { url: url.href, auth, secret: fields.callback_secret ?? null };
    },

    save(subject, callback) {
      const box = callback.auth === null && callback.secret === null ? null : deps.box();
      store.insert({
        subjectId: subject.subjectId,
        projectId: subject.projectId,
        url: callback.url,
        authKind: callback.auth?.kind ?? null,
        authSealed:
          callback.auth === null ? null : (box as SecretBox).seal(JSON.stringify(callback.auth)),
        secretSealed: callback.secret === null ? null : (box as SecretBox).seal(callback.secret),
        createdAt: subject.createdAt,
      });
    },

    hasCallback(subjectId) {
      return store.has(subjectId);
    },

    callbackOf(subjectId) {
      const row = store.find(subjectId);
      if (row === undefined) {
        return null;
      }
      const box = row.authSealed === null && row.secretSealed === null ? null : deps.box();
      return {
        url: row.url,
        auth:
          row.authSealed === null
            ? null
            : (JSON.parse((box as SecretBox).open(row.authSealed)) as CallbackTarget["auth"]),
        secret: row.secretSealed === null ? null : (box as SecretBox).open(row.secretSealed),
      };
    },
  };
}

/** Whether a request names a callback at all (any of the three fields). */
export function hasCallbackFields(fields: CallbackFields): boolean {
  return (
    fields.callback_url !== undefined ||
    (fields.callback_auth !== undefined && fields.callback_auth !== null) ||
    fields.callback_secret !== undefined
  );
}
