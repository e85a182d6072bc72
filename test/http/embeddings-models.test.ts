import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";
import { createTestContext, type TestContext } from "../helpers/test-app.js";

const SMALL = "text-embedding-3-small";
const LARGE = "text-embedding-3-large";

interface EmbeddingList<E = number[]> {
  object: string;
  model: string;
  data: { object: string; index: number; embedding: E }[];
  usage: { prompt_tokens: number; total_tokens: number };
}

interface ModelObject {
  id: string;
  object: string;
  created: number;
  owned_by: string;
}

let t: TestContext;
beforeEach(() => {
  t = createTestContext();
});
afterEach(() => t.close());

async function embed<E = number[]>(body: Record<string, unknown>): Promise<EmbeddingList<E>> {
  const res = await t.post("/v1/embeddings", { model: SMALL, ...body });
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  return (await res.json()) as EmbeddingList<E>;
}

/** Float embeddings, validated against the spec. */
async function embedFloats(body: Record<string, unknown>): Promise<EmbeddingList> {
  const list = await embed({ encoding_format: "float", ...body });
  expectMatchesComponent("CreateEmbeddingResponse", list);
  return list;
}

function vectorOf(list: EmbeddingList, index = 0): number[] {
  const vector = list.data[index]?.embedding;
  if (vector === undefined) {
    throw new Error(`no embedding at index ${index}`);
  }
  return vector;
}

/** What the SDKs do with base64: little-endian float32. */
function decodeBase64(encoded: string): number[] {
  const bytes = Buffer.from(encoded, "base64");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

function expectUnitNorm(vector: readonly number[]): void {
  const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
  expect(Math.abs(norm - 1), `norm ${norm}`).toBeLessThan(1e-4);
}

async function getJson<T>(path: string): Promise<T> {
  const res = await t.get(path);
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  return (await res.json()) as T;
}

describe("POST /v1/embeddings", () => {
  it("returns a unit vector of the model's size", async () => {
    const small = await embedFloats({ input: "The quick brown fox" });
    expect(small).toMatchObject({ object: "list", model: SMALL });
    expect(small.data).toHaveLength(1);
    expect(small.data[0]).toMatchObject({ object: "embedding", index: 0 });
    expect(vectorOf(small)).toHaveLength(1536);
    expectUnitNorm(vectorOf(small));

    const large = await embedFloats({ model: LARGE, input: "The quick brown fox" });
    expect(vectorOf(large)).toHaveLength(3072);
    expectUnitNorm(vectorOf(large));
  });

  it("shortens to the requested dimensions, still unit length", async () => {
    const list = await embedFloats({ input: "The quick brown fox", dimensions: 256 });
    expect(vectorOf(list)).toHaveLength(256);
    expectUnitNorm(vectorOf(list));
  });

  it("is deterministic: same input, same vector; different input, different vector", async () => {
    const first = await embedFloats({ input: "The quick brown fox" });
    const again = await embedFloats({ input: "The quick brown fox" });
    const other = await embedFloats({ input: "A slow green turtle" });
    expect(vectorOf(again)).toEqual(vectorOf(first));
    expect(vectorOf(other)).not.toEqual(vectorOf(first));
  });

  it("encodes base64 as little-endian float32 of the same numbers", async () => {
    const floats = await embedFloats({ input: "The quick brown fox" });
    const base64 = await embed<string>({ input: "The quick brown fox", encoding_format: "base64" });
    const encoded = base64.data[0]?.embedding;
    expect(typeof encoded).toBe("string");
    const decoded = decodeBase64(encoded ?? "");
    expect(decoded).toHaveLength(1536);
    expect(decoded).toEqual(vectorOf(floats));
    const asFloats = { ...base64, data: base64.data.map((d) => ({ ...d, embedding: decoded })) };
    expectMatchesComponent("CreateEmbeddingResponse", asFloats);
  });

  it("sends floats when encoding_format is left out", async () => {
    const list = await embed({ input: "The quick brown fox" });
    expect(Array.isArray(list.data[0]?.embedding)).toBe(true);
  });

  it("embeds an array of strings in order, indexed 0..n-1", async () => {
    const inputs = ["alpha", "bravo", "charlie", "delta"];
    const list = await embedFloats({ input: inputs });
    expect(list.data.map((item) => item.index)).toEqual([0, 1, 2, 3]);
    for (const [index, input] of inputs.entries()) {
      const single = await embedFloats({ input });
      expect(vectorOf(list, index), input).toEqual(vectorOf(single));
    }
  });

  it("embeds token arrays", async () => {
    const one = await embedFloats({ input: [1734, 8256, 19705] });
    expect(one.data).toHaveLength(1);
    expect(vectorOf(one)).toHaveLength(1536);
    expect(one.usage.prompt_tokens).toBe(3);

    const many = await embedFloats({ input: [[1734, 8256], [19705]] });
    expect(many.data.map((item) => item.index)).toEqual([0, 1]);
    expect(many.usage.prompt_tokens).toBe(3);
    expect(vectorOf(many, 0)).not.toEqual(vectorOf(many, 1));
  });

  it("counts prompt tokens", async () => {
    const list = await embedFloats({ input: ["The quick brown fox", "jumps over"] });
    expect(list.usage.prompt_tokens).toBeGreaterThan(0);
    expect(list.usage.total_tokens).toBe(list.usage.prompt_tokens);
  });
});

describe("GET /v1/models", () => {
  it("lists the models, gpt-4o-mini among them", async () => {
    const list = await getJson<{ object: string; data: ModelObject[] }>("/v1/models");
    expectMatchesComponent("ListModelsResponse", list);
    expect(list.object).toBe("list");
    const ids = list.data.map((model) => model.id);
    expect(ids).toContain("gpt-4o-mini");
    expect(ids).toContain(SMALL);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("retrieves a listed model", async () => {
    const model = await getJson<ModelObject>("/v1/models/gpt-4o-mini");
    expectMatchesComponent("Model", model);
    expect(model).toMatchObject({ id: "gpt-4o-mini", object: "model" });
  });

  it("retrieves any name the mock serves", async () => {
    const model = await getJson<ModelObject>("/v1/models/any-custom-name");
    expectMatchesComponent("Model", model);
    expect(model).toMatchObject({ id: "any-custom-name", object: "model" });
  });

  it("retrieves a name with a slash", async () => {
    const model = await getJson<ModelObject>("/v1/models/org/custom-model");
    expectMatchesComponent("Model", model);
    expect(model.id).toBe("org/custom-model");
  });
});

describe("GET /health", () => {
  it("answers ok", async () => {
    expect(await getJson("/health")).toMatchObject({ status: "ok" });
  });
});
