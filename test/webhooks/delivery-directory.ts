import { randomBytes } from "node:crypto";
import type { Db } from "../../src/store/db.js";
import type { DeliveryDirectory, EndpointTarget } from "../../src/webhooks/outbox.js";
import { createSecretBox } from "../../src/webhooks/secret-box.js";
import { newSigningSecret, secretHint } from "../../src/webhooks/signature.js";

/**
 * A DeliveryDirectory over real webhook_endpoints and request_callbacks rows, for the delivery
 * lane's tests (the real one comes from webhooks/endpoints.ts and webhooks/callbacks.ts). Rows
 * are inserted with sealed secrets, as the real stores write them; outcomes are recorded in
 * `outcomes` so tests can check the failure bookkeeping was told.
 */
export interface TestDirectory extends DeliveryDirectory {
  addEndpoint(input: { projectId: string; url: string; eventTypes?: string[] }): {
    id: string;
    secret: string;
  };
  addCallback(input: {
    subjectId: string;
    projectId: string;
    url: string;
    secret?: string | null;
    auth?: { kind: "basic"; username: string; password: string } | null;
  }): void;
  disable(endpointId: string): void;
  readonly outcomes: { endpointId: string; delivered: boolean }[];
}

/** `key`: the secrets key; give two directories over one database file the same one. */
export function createTestDirectory(db: Db, key: Buffer = randomBytes(32)): TestDirectory {
  const box = createSecretBox(key);
  const sqlite = db.$client;
  const outcomes: { endpointId: string; delivered: boolean }[] = [];
  let count = 0;
  return {
    outcomes,
    addEndpoint({ projectId, url, eventTypes = ["response.completed"] }) {
      const id = `whe_test${++count}`;
      const secret = newSigningSecret();
      sqlite
        .prepare(
          `INSERT INTO webhook_endpoints (id, project_id, name, url, event_types, secret_sealed,
             secret_hint, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, 1)`,
        )
        .run(
          id,
          projectId,
          `hook ${count}`,
          url,
          JSON.stringify(eventTypes),
          box.seal(secret),
          secretHint(secret),
        );
      return { id, secret };
    },
    addCallback({ subjectId, projectId, url, secret = null, auth = null }) {
      sqlite
        .prepare(
          `INSERT INTO request_callbacks (subject_id, project_id, url, auth_kind, auth_sealed,
             secret_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, 1)`,
        )
        .run(
          subjectId,
          projectId,
          url,
          auth?.kind ?? null,
          auth === null ? null : box.seal(JSON.stringify(auth)),
          secret === null ? null : box.seal(secret),
        );
    },
    disable(endpointId) {
      sqlite.prepare(`UPDATE webhook_endpoints SET disabled_at = 1 WHERE id = ?`).run(endpointId);
    },
    endpointsFor(projectId, type) {
      const rows = sqlite
        .prepare(
          `SELECT id, url, event_types AS eventTypes FROM webhook_endpoints
           WHERE project_id = ? AND disabled_at IS NULL`,
        )
        .all(projectId) as { id: string; url: string; eventTypes: string }[];
      return rows
        .filter((row) => (JSON.parse(row.eventTypes) as string[]).includes(type))
        .map((row): EndpointTarget => ({ id: row.id, url: row.url }));
    },
    endpointSecrets(endpointId) {
      const row = sqlite
        .prepare(
          `SELECT secret_sealed AS sealed FROM webhook_endpoints WHERE id = ? AND disabled_at IS NULL`,
        )
        .get(endpointId) as { sealed: string } | undefined;
      return row === undefined ? null : { secrets: [box.open(row.sealed)] };
    },
    hasCallback(subjectId) {
      return (
        sqlite.prepare(`SELECT 1 FROM request_callbacks WHERE subject_id = ?`).get(subjectId) !==
        undefined
      );
    },
    callbackOf(subjectId) {
      const row = sqlite
        .prepare(
          `SELECT url, auth_sealed AS authSealed, secret_sealed AS secretSealed
           FROM request_callbacks WHERE subject_id = ?`,
        )
        .get(subjectId) as
        | { url: string; authSealed: string | null; secretSealed: string | null }
        | undefined;
      if (row === undefined) {
        return null;
      }
      return {
        url: row.url,
        auth: row.authSealed === null ? null : JSON.parse(box.open(row.authSealed)),
        secret: row.secretSealed === null ? null : box.open(row.secretSealed),
      };
    },
    recordEndpointOutcome(endpointId, delivered) {
      outcomes.push({ endpointId, delivered });
      sqlite
        .prepare(
          `UPDATE webhook_endpoints SET consecutive_failures =
             CASE WHEN ? THEN 0 ELSE consecutive_failures + 1 END WHERE id = ?`,
        )
        .run(delivered ? 1 : 0, endpointId);
    },
  };
}
