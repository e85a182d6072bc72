import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestContext } from "../helpers/test-app.js";
import {
  chatLine,
  type ErrorBody,
  expectJson,
  keyedContext,
  send,
  uploadFile,
} from "./auth-helpers.js";

/**
 * Two projects, alpha and beta, each with an all-scopes key. Whatever beta does with alpha's ids
 * it gets exactly what it would get for ids that never existed: 404 on every route that takes an
 * id, the "unknown" answer where an id is a parameter, and lists without alpha's objects.
 */

const MODEL = "gpt-4o-mini";

let t: TestContext;
let alpha = "";
let beta = "";
let ids: { response: string; background: string; file: string; batch: string; stream: string };

beforeEach(async () => {
  const world = keyedContext();
  t = world.t;
  alpha = world.createKey("alpha").key;
  beta = world.createKey("beta").key;
  const response = await expectJson<{ id: string }>(
    send(t, "POST", "/v1/responses", alpha, { model: MODEL, input: "alpha's secret" }),
    200,
  );
  // Queued, never run (the executor is not started): still cancellable.
  const background = await expectJson<{ id: string }>(
    send(t, "POST", "/v1/responses", alpha, { model: MODEL, input: "later", background: true }),
    200,
  );
  const file = await uploadFile(t, alpha, chatLine("a", "hello"));
  const batch = await expectJson<{ id: string }>(
    send(t, "POST", "/v1/batches", alpha, {
      input_file_id: file,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    }),
    200,
  );
  const stream = await expectJson<{ id: string }>(
    send(t, "POST", "/v1/streams", alpha, { name: "alpha-stream" }),
    200,
  );
  ids = {
    response: response.id,
    background: background.id,
    file,
    batch: batch.id,
    stream: stream.id,
  };
});
afterEach(() => t.close());

/** Every route that takes an id, with the id of alpha's object it is tried on. */
function idRoutes(): [method: string, path: string, body?: unknown][] {
  return [
    ["GET", `/v1/responses/${ids.response}`],
    ["GET", `/v1/responses/${ids.background}?stream=true`],
    ["GET", `/v1/responses/${ids.response}/input_items`],
    ["POST", `/v1/responses/${ids.background}/cancel`],
    ["DELETE", `/v1/responses/${ids.response}`],
    ["GET", `/v1/files/${ids.file}`],
    ["GET", `/v1/files/${ids.file}/content`],
    ["DELETE", `/v1/files/${ids.file}`],
    ["GET", `/v1/batches/${ids.batch}`],
    ["GET", `/v1/batches/${ids.batch}/results`],
    ["GET", `/v1/batches/${ids.batch}/results.jsonl`],
    ["POST", `/v1/batches/${ids.batch}/cancel`],
    ["GET", `/v1/streams/${ids.stream}`],
    ["GET", `/v1/streams/${ids.stream}/events`],
    ["PATCH", `/v1/streams/${ids.stream}`, { status: "archived" }],
  ];
}

/** The same request with the id swapped for one that never existed, for comparison. */
function unknownTwin(text: string): string {
  return text
    .replace(ids.response, "resp_00000000000000000000000000000000000000000000")
    .replace(ids.background, "resp_00000000000000000000000000000000000000000001")
    .replace(ids.file, "file-000000000000000000000000000000000000000000000")
    .replace(ids.batch, "batch_000000000000000000000000000000000000000000000")
    .replace(ids.stream, "stream_00000000000000000000000000000000000000000000");
}

/** Status and error code, with ids blanked out of the message, to compare two answers. */
async function outcome(res: Response) {
  const text = await res.text();
  let code: string | null = null;
  let message = "";
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    code = body.error?.code ?? null;
    message = (body.error?.message ?? "").replace(/(resp|file|batch|stream)[-_][0-9a-f]+/g, "<id>");
  } catch {
    message = text;
  }
  return { status: res.status, code, message };
}

describe("cross-project access", () => {
  it("is 404 on every route that takes an id, and leaves the object alone", async () => {
    for (const [method, path, body] of idRoutes()) {
      const res = await send(t, method, path, beta, body);
      const err = await expectJson<ErrorBody>(res, 404);
      expect(err.error.type, `${method} ${path}`).toBe("invalid_request_error");
      const twin = await send(t, method, unknownTwin(path), beta, body);
      expect(await outcome(twin), `${method} ${path} vs an unknown id`).toEqual({
        status: 404,
        code: err.error.code,
        message: err.error.message.replace(/(resp|file|batch|stream)[-_][0-9a-f]+/g, "<id>"),
      });
    }
    // Alpha still has everything, untouched by beta's deletes and cancels.
    await expectJson(send(t, "GET", `/v1/responses/${ids.response}`, alpha), 200);
    const background = await expectJson<{ status: string }>(
      send(t, "GET", `/v1/responses/${ids.background}`, alpha),
      200,
    );
    expect(background.status).toBe("queued");
    await expectJson(send(t, "GET", `/v1/files/${ids.file}/content`, alpha), 200);
    const batch = await expectJson<{ status: string }>(
      send(t, "GET", `/v1/batches/${ids.batch}`, alpha),
      200,
    );
    expect(batch.status).not.toMatch(/cancel/);
    const stream = await expectJson<{ status: string }>(
      send(t, "GET", `/v1/streams/${ids.stream}`, alpha),
      200,
    );
    expect(stream.status).toBe("open");
  });

  it("treats another project's id as unknown where an id is a parameter", async () => {
    const asParameter: [string, string, Record<string, unknown>][] = [
      [
        "POST",
        "/v1/responses",
        { model: MODEL, input: "go on", previous_response_id: ids.response },
      ],
      [
        "POST",
        "/v1/batches",
        { input_file_id: ids.file, endpoint: "/v1/chat/completions", completion_window: "24h" },
      ],
      [
        "POST",
        "/v1/responses",
        { model: MODEL, input: "item", metadata: { stream_id: ids.stream } },
      ],
    ];
    for (const [method, path, body] of asParameter) {
      const res = await send(t, method, path, beta, body);
      const answer = await outcome(res);
      expect([400, 404], `${path} ${JSON.stringify(body)}: ${answer.message}`).toContain(
        answer.status,
      );
      const twin = JSON.parse(unknownTwin(JSON.stringify(body))) as unknown;
      expect(await outcome(await send(t, method, path, beta, twin))).toEqual(answer);
    }
    // Alpha itself can chain, and can batch its own file.
    await expectJson(
      send(t, "POST", "/v1/responses", alpha, {
        model: MODEL,
        input: "go on",
        previous_response_id: ids.response,
      }),
      200,
    );
  });

  it("never shows another project's objects in a list, nor lets its ids page one", async () => {
    const lists: [string, string][] = [
      ["/v1/responses", ids.response],
      ["/v1/files", ids.file],
      ["/v1/batches", ids.batch],
      ["/v1/streams", ids.stream],
    ];
    for (const [path, alphaId] of lists) {
      const ofAlpha = await expectJson<{ data: { id: string }[] }>(
        send(t, "GET", path, alpha),
        200,
      );
      expect(
        ofAlpha.data.map((item) => item.id),
        `alpha's ${path}`,
      ).toContain(alphaId);
      const ofBeta = await expectJson<{ data: { id: string }[] }>(send(t, "GET", path, beta), 200);
      expect(ofBeta.data, `beta's ${path}`).toEqual([]);
      // A cursor from the other project is answered like a cursor that never existed.
      const paged = await outcome(await send(t, "GET", `${path}?after=${alphaId}`, beta));
      const unknown = await outcome(
        await send(t, "GET", `${path}?after=${unknownTwin(alphaId)}`, beta),
      );
      expect(paged, `${path}?after=`).toEqual(unknown);
    }
    const byStream = await outcome(
      await send(t, "GET", `/v1/responses?stream_id=${ids.stream}`, beta),
    );
    const byUnknownStream = await outcome(
      await send(t, "GET", `/v1/responses?stream_id=${unknownTwin(ids.stream)}`, beta),
    );
    expect(byStream).toEqual(byUnknownStream);
  });

  it("gives the same project's keys the same objects, whatever their names", async () => {
    const world = { t };
    const second = world.t.services.apiKeys.create({ projectId: "alpha", name: "another" }).key;
    await expectJson(send(t, "GET", `/v1/responses/${ids.response}`, second), 200);
    await expectJson(send(t, "GET", `/v1/batches/${ids.batch}`, second), 200);
  });
});
