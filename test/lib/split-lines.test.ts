import { describe, expect, it } from "vitest";
import { type SplitLine, splitLines } from "../../src/lib/split-lines.js";

async function split(chunks: (string | Uint8Array)[], maxLineBytes = 8): Promise<SplitLine[]> {
  async function* source() {
    yield* chunks;
  }
  const lines: SplitLine[] = [];
  for await (const line of splitLines(source(), { maxLineBytes })) {
    lines.push(line);
  }
  return lines;
}

describe("splitLines", () => {
  it("splits at \\n, drops a \\r before it and a BOM before line 1, and makes no line after a final newline", async () => {
    expect(await split(["\uFEFFab\r\n", "\n\uFEFFc", "d\n"])).toEqual([
      { line: 1, text: "ab" },
      { line: 2, text: "" },
      { line: 3, text: "\uFEFFcd" },
    ]);
    expect(await split(["x"])).toEqual([{ line: 1, text: "x" }]);
    expect(await split([])).toEqual([]);
  });

  it("decodes a character split across chunks, and refuses bytes that are not UTF-8", async () => {
    const euro = new TextEncoder().encode("€"); // three bytes
    expect(await split([euro.slice(0, 1), euro.slice(1), "\n"])).toEqual([{ line: 1, text: "€" }]);
    expect(await split([new Uint8Array([0x61, 0xff, 0x0a]), "ok"])).toEqual([
      { line: 1, problem: "not_utf8" },
      { line: 2, text: "ok" },
    ]);
  });

  it("takes a line of exactly the limit, with or without \\r, and refuses one byte more", async () => {
    expect(await split(["12345678\r\n", "12345678\n", "123456789\n", "123456789"])).toEqual([
      { line: 1, text: "12345678" },
      { line: 2, text: "12345678" },
      { line: 3, problem: "too_long" },
      { line: 4, problem: "too_long" },
    ]);
  });

  it("skips the rest of a long line as it streams by and carries on after it", async () => {
    const pieces = Array.from({ length: 1000 }, () => "xxxxxxxx");
    expect(await split(["ok\nst", ...pieces, "art\nnext"])).toEqual([
      { line: 1, text: "ok" },
      { line: 2, problem: "too_long" },
      { line: 3, text: "next" },
    ]);
  });

  it("rejects the iteration when the source fails", async () => {
    async function* failing(): AsyncGenerator<string> {
      yield "a\n";
      throw new Error("aborted");
    }
    const lines: SplitLine[] = [];
    await expect(async () => {
      for await (const line of splitLines(failing(), { maxLineBytes: 8 })) {
        lines.push(line);
      }
    }).rejects.toThrow("aborted");
    expect(lines).toEqual([{ line: 1, text: "a" }]);
  });
});
