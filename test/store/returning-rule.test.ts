import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The rule in src/store/db.ts: a write statement's RETURNING rows are read with all(), never
 * get(), whose ignored reset hides a commit that failed (a full disk). Checked in the source,
 * because the failure needs a full disk to show (test/hardening/full-disk.test.ts shows it).
 */
const STORE_DIR = path.join(import.meta.dirname, "../../src/store");

describe("RETURNING in src/store", () => {
  const sources = readdirSync(STORE_DIR)
    .filter((name) => name.endsWith(".ts"))
    .map((name) => ({ name, text: readFileSync(path.join(STORE_DIR, name), "utf8") }));

  it.each(sources)("$name never reads a RETURNING statement with get()", ({ text }) => {
    expect(text).not.toMatch(/\.returning\([^)]*\)\s*\.get\(/);
    for (const [, name, sql] of text.matchAll(/const (\w+) = [\w.$]+\.prepare\(\s*`([^`]*)`/g)) {
      if (/\bRETURNING\b/i.test(sql ?? "")) {
        expect(text, name).not.toContain(`${name}.get(`);
      }
    }
  });

  it("finds the RETURNING statements it checks", () => {
    const text = sources.map((source) => source.text).join("\n");
    expect(text).toMatch(/\.returning\(\)/);
    expect(text).toMatch(/RETURNING id/);
  });
});
