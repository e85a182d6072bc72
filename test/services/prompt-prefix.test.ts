import { describe, expect, it } from "vitest";
import { dispatchRankOf, promptPrefixOf } from "../../src/services/prompt-prefix.js";

/** What a batch line's dispatch rank is made of, endpoint by endpoint. */

const chat = (messages: unknown[], extra: Record<string, unknown> = {}) => ({
  model: "m",
  messages,
  ...extra,
});
const system = (content: string) => ({ role: "system", content });
const user = (content: string) => ({ role: "user", content });
const assistant = (content: string) => ({ role: "assistant", content });

/** The head's share of a rank: lines with the same head form one run of ranks. */
const headOf = (rank: number) => Math.floor(rank / 2 ** 21);

describe("a chat line's dispatch rank", () => {
  it("groups lines by model, tools and leading system/developer messages, whatever the question", () => {
    const rank = (body: Record<string, unknown>) => dispatchRankOf("/v1/chat/completions", body);
    const a = rank(chat([system("You grade essays."), user("Essay one")]));
    const b = rank(chat([system("You grade essays."), user("Essay two")]));
    expect(a).toBe(b);
    expect(rank(chat([system("You translate."), user("Essay one")]))).not.toBe(a);
    expect(rank({ ...chat([system("You grade essays."), user("x")]), model: "other" })).not.toBe(a);
    const tools = [{ type: "function", function: { name: "f", parameters: {} } }];
    expect(rank(chat([system("You grade essays."), user("x")], { tools }))).not.toBe(a);
    // A developer message is instructions too; a system message after the first user turn is not.
    const withDeveloper = chat([system("s"), { role: "developer", content: "d" }, user("q")]);
    expect(promptPrefixOf("/v1/chat/completions", withDeveloper).head).toEqual([
      "/v1/chat/completions",
      "m",
      null,
      [system("s"), { role: "developer", content: "d" }],
    ]);
  });

  it("orders lines sharing earlier turns (few-shot examples) together within a head, not the last message", () => {
    const shots = [user("2+2?"), assistant("4")];
    const rank = (messages: unknown[]) => dispatchRankOf("/v1/chat/completions", chat(messages));
    const a = rank([system("s"), ...shots, user("3+3?")]);
    const b = rank([system("s"), ...shots, user("5+5?")]);
    const c = rank([system("s"), user("1+1?"), assistant("2"), user("3+3?")]);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(headOf(c)).toBe(headOf(a));
    expect(
      promptPrefixOf("/v1/chat/completions", chat([system("s"), ...shots, user("3+3?")])).history,
    ).toEqual([null, shots]);
  });

  it("does not depend on the key order of a message", () => {
    const rank = (message: unknown) =>
      dispatchRankOf("/v1/chat/completions", chat([message, user("q")]));
    expect(rank({ role: "system", content: "s" })).toBe(rank({ content: "s", role: "system" }));
  });

  it("is below 2^53, a safe integer", () => {
    for (let i = 0; i < 200; i++) {
      const rank = dispatchRankOf("/v1/chat/completions", chat([system(`p${i}`), user("q")]));
      expect(Number.isSafeInteger(rank) && rank >= 0).toBe(true);
    }
  });
});

describe("the other endpoints' dispatch ranks", () => {
  it("Responses: instructions, prompt, tools and leading system/developer items are the head; item ids are not", () => {
    const rank = (body: Record<string, unknown>) =>
      dispatchRankOf("/v1/responses", { model: "m", ...body });
    expect(rank({ instructions: "Be brief.", input: "one" })).toBe(
      rank({ instructions: "Be brief.", input: "two" }),
    );
    expect(rank({ instructions: "Be brief.", input: "one" })).not.toBe(
      rank({ instructions: "Be long.", input: "one" }),
    );
    const item = { type: "message", role: "user", content: "shared document" };
    expect(rank({ input: [{ ...item, id: "msg_1" }, user("q1")] })).toBe(
      rank({ input: [{ ...item, id: "msg_2" }, user("q2")] }),
    );
    expect(
      promptPrefixOf("/v1/responses", { model: "m", input: [system("s"), user("q")] }),
    ).toEqual({
      head: ["/v1/responses", "m", null, null, null, [system("s")]],
      history: [null, null, null, []],
    });
  });

  it("Completions: the prompt's first 256 characters are the head, its first 4096 the history", () => {
    const rank = (prompt: unknown) => dispatchRankOf("/v1/completions", { model: "m", prompt });
    const template = "x".repeat(300);
    expect(headOf(rank(`${template} one`))).toBe(headOf(rank(`${template} two`)));
    expect(rank(`${template} one`)).not.toBe(rank(`${template} two`));
    expect(rank(`${"y".repeat(5000)} one`)).toBe(rank(`${"y".repeat(5000)} two`));
    expect(rank([`${template} a`, "other"])).toBe(rank(`${template} a`));
    expect(rank([1, 2, 3])).toBe(rank([[1, 2, 3]]));
  });

  it("Embeddings: one rank per model, so a batch keeps its input order", () => {
    const rank = (input: unknown) => dispatchRankOf("/v1/embeddings", { model: "m", input });
    expect(rank("one")).toBe(rank("two"));
  });
});
