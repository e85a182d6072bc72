import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { describe, expect, it } from "vitest";
import { hintWords, sampleJson } from "../../src/backends/mock/schema-sampler.js";

// The corpus: OpenAI strict-mode shapes (strict-*), non-strict ones (loose-*) and what the
// openai SDK's zod helpers and zod's own converter write (zod-*).
const CORPUS_DIR = join(import.meta.dirname, "../fixtures/json-schemas");
const corpus = readdirSync(CORPUS_DIR)
  .filter((file) => file.endsWith(".json"))
  .sort()
  .map((file) => ({
    name: file.replace(/\.json$/, ""),
    schema: JSON.parse(readFileSync(join(CORPUS_DIR, file), "utf8")) as Record<string, unknown>,
  }));

// Validators independent of the sampler's own (its dialect choice is under test too): the
// schema's `$schema` picks the draft, 2020-12 otherwise.
const ajv2020 = new Ajv2020({ strict: false });
addFormatsModule.default(ajv2020);
const ajv07 = new Ajv({ strict: false });
addFormatsModule.default(ajv07);

function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const dialect = typeof schema.$schema === "string" ? schema.$schema : "";
  const isDraft07 =
    /draft-0[67]/.test(dialect) || JSON.stringify(schema).includes('"additionalItems"');
  return (isDraft07 ? ajv07 : ajv2020).compile(schema);
}

const HINT_TEXTS = [
  "",
  "What's the weather in Paris today, in celsius?",
  "Book a suite in Lisbon for 3 nights and email ada@example.com",
  "search for cheap flights to Tokyo on 2025-06-01",
  "Über große Städte 東京 und München",
  "high priority: cancel order 12345 shipped to Nairobi",
];
const SEEDS_PER_HINT = 12;

describe("sampleJson over the schema corpus", () => {
  it("has at least 50 schemas", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(50);
  });

  for (const { name, schema } of corpus) {
    it(`always validates: ${name}`, () => {
      const validate = validatorFor(schema);
      const distinct = new Set<string>();
      for (const text of HINT_TEXTS) {
        for (let seed = 0; seed < SEEDS_PER_HINT; seed++) {
          const options = { seed: `${name}:${seed}`, hints: hintWords(text) };
          const value = sampleJson(schema, options);
          if (!validate(value)) {
            throw new Error(
              `${name} seed ${seed} hints "${text}": ${JSON.stringify(value)} fails: ${JSON.stringify(validate.errors)}`,
            );
          }
          // Deterministic: the same seed and hints give the same value.
          expect(sampleJson(schema, options)).toEqual(value);
          distinct.add(JSON.stringify(value));
        }
      }
      expect(distinct.size).toBeGreaterThan(0);
    });
  }
});

describe("sampleJson and the conversation", () => {
  const weather = corpus.find((entry) => entry.name === "strict-get-weather")?.schema ?? {};

  it("takes a capitalised word of the message for a location", () => {
    const value = sampleJson(weather, {
      seed: "s",
      hints: hintWords("What is the weather like in Paris?"),
    }) as { location: string };
    expect(value.location).toBe("Paris");
  });

  it("takes a lower-case place after a preposition", () => {
    const value = sampleJson(weather, {
      seed: "s",
      hints: hintWords("weather in lisbon tomorrow"),
    }) as { location: string };
    expect(value.location).toBe("Lisbon");
  });

  it("takes the enum value the user named", () => {
    const values = new Set<unknown>();
    for (let seed = 0; seed < 20; seed++) {
      const value = sampleJson(weather, {
        seed: String(seed),
        hints: hintWords("weather in Oslo, in fahrenheit please"),
      }) as { units: string | null };
      values.add(value.units);
    }
    // Nullable: sometimes null, otherwise the unit the user asked for, never the other one.
    expect([...values].filter((unit) => unit !== null)).toEqual(["fahrenheit"]);
  });

  it("puts the user's words into a free-text property", () => {
    const value = sampleJson(
      {
        type: "object",
        properties: { query: { type: "string" } },
        required: ["query"],
        additionalProperties: false,
      },
      { seed: "s", hints: hintWords("find vegetarian lasagna recipes") },
    ) as { query: string };
    // "find" is a filler word, left out like "please" or "the".
    expect(value.query).toBe("vegetarian lasagna recipes");
  });

  it("gives different values for different seeds", () => {
    const schema = { type: "integer", minimum: 0, maximum: 1_000_000 };
    const values = new Set(
      Array.from({ length: 20 }, (_, seed) =>
        sampleJson(schema, { seed: String(seed), hints: [] }),
      ),
    );
    expect(values.size).toBeGreaterThan(15);
  });

  it("ends a recursive schema", () => {
    const schema = corpus.find((entry) => entry.name === "strict-recursive-ui")?.schema ?? {};
    const depthOf = (node: { children: unknown[] }): number =>
      1 + Math.max(0, ...node.children.map((child) => depthOf(child as { children: unknown[] })));
    for (let seed = 0; seed < 20; seed++) {
      const value = sampleJson(schema, { seed: String(seed), hints: [] }) as { children: [] };
      expect(depthOf(value)).toBeLessThanOrEqual(6);
    }
  });

  it("says so when no value satisfies the schema", () => {
    expect(() =>
      sampleJson({ type: "integer", minimum: 3, maximum: 2 }, { seed: "s", hints: [] }),
    ).toThrow(/found no value that satisfies the schema/);
  });
});
