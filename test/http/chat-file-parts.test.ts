import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend, GenerateRequest } from "../../src/backends/backend.js";
import type { Router } from "../../src/backends/router.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

/** Chat `file` parts that name an uploaded ferry file reach the backend as data URLs. */

let t: TestContext;
let seen: GenerateRequest[];

function recordingRouter(configured: Router): Router {
  return {
    ...configured,
    resolve(model) {
      const resolved = configured.resolve(model);
      if (resolved === null) {
        return null;
      }
      const backend: Backend = {
        name: resolved.backend.name,
        generate(request, signal) {
          seen.push(request);
          return resolved.backend.generate(request, signal);
        },
        streamGenerate(request, signal) {
          seen.push(request);
          return resolved.backend.streamGenerate(request, signal);
        },
        embed: (request, signal) => resolved.backend.embed(request, signal),
      };
      return { ...resolved, backend };
    },
  };
}

beforeEach(() => {
  seen = [];
  t = createTestContext({ router: recordingRouter });
});
afterEach(() => t.close());

async function upload(bytes: Buffer, purpose: string, filename: string): Promise<string> {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", new Blob([bytes]), filename);
  const res = await t.app.request("/v1/files", { method: "POST", body: form });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

function chatWithFile(fileId: string) {
  return {
    model: "gpt-4o-mini",
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "Summarise this document." },
          { type: "file", file: { file_id: fileId } },
        ],
      },
    ],
  };
}

describe("chat file parts by file_id", () => {
  it("reach the backend as data URLs with the file's name", async () => {
    const pdf = Buffer.from("%PDF-1.4\n% a tiny document\n");
    const fileId = await upload(pdf, "user_data", "notes.pdf");

    const res = await t.post("/v1/chat/completions", chatWithFile(fileId));

    expect(res.status, await res.clone().text()).toBe(200);
    const part = seen[0]?.messages[0]?.content[1];
    expect(part).toMatchObject({ type: "file", fileId, filename: "notes.pdf" });
    expect((part as { data?: string }).data).toMatch(/^data:[^;]+;base64,/);
    expect(
      Buffer.from(String((part as { data?: string }).data).split(",")[1] ?? "", "base64"),
    ).toEqual(pdf);
  });

  it("is a 400 naming the part when the file does not exist", async () => {
    const res = await t.post("/v1/chat/completions", chatWithFile("file-doesnotexist"));

    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { param: string; message: string } };
    expect(error.param).toBe("messages[0].content[1].file.file_id");
    expect(error.message).toMatch(/file-doesnotexist/);
    expect(seen).toHaveLength(0);
  });
});
