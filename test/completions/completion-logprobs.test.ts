import { describe, expect, it } from "vitest";
import type { TokenLogprob } from "../../src/backends/model-contract.js";
import { completionLogprobsOf } from "../../src/services/completion-logprobs.js";
import { expectMatchesComponent } from "../helpers/openapi-schema.js";

function token(text: string, logprob: number, top: [string, number][]): TokenLogprob {
  return {
    token: text,
    logprob,
    bytes: [...Buffer.from(text)],
    topLogprobs: top.map(([alternative, value]) => ({
      token: alternative,
      logprob: value,
      bytes: [...Buffer.from(alternative)],
    })),
  };
}

const LOGPROBS: TokenLogprob[] = [
  token("The", -0.1, [
    ["The", -0.1],
    ["A", -2.5],
    ["In", -3],
  ]),
  token(" tide", -0.7, [
    ["sea", -0.5],
    [" tide", -0.7],
    [" moon", -1.9],
  ]),
  token(" rises", -1.25, [
    [" falls", -0.9],
    [" turns", -1.1],
  ]),
];

describe("completionLogprobsOf", () => {
  it("lays the tokens out as the legacy parallel arrays, offsets counted from the start", () => {
    const mapped = completionLogprobsOf(LOGPROBS, 2, 0);
    expect(mapped).toEqual({
      tokens: ["The", " tide", " rises"],
      token_logprobs: [-0.1, -0.7, -1.25],
      top_logprobs: [
        { The: -0.1, A: -2.5 },
        { sea: -0.5, " tide": -0.7 },
        // The chosen token was not among the top 2, so it is added: up to logprobs+1 entries.
        { " falls": -0.9, " turns": -1.1, " rises": -1.25 },
      ],
      text_offset: [0, 3, 8],
    });
  });

  it("keeps at most `logprobs` alternatives, and with 0 only the chosen token", () => {
    const mapped = completionLogprobsOf(LOGPROBS, 0, 0);
    expect(mapped.top_logprobs).toEqual([{ The: -0.1 }, { " tide": -0.7 }, { " rises": -1.25 }]);
  });

  it("starts the offsets where the text before the tokens ends", () => {
    expect(completionLogprobsOf(LOGPROBS, 1, 12).text_offset).toEqual([12, 15, 20]);
  });

  it("keeps a token spelled __proto__ as a plain key", () => {
    const mapped = completionLogprobsOf([token("__proto__", -1, [["__proto__", -1]])], 1, 0);
    const [entry] = mapped.top_logprobs;
    expect(Object.keys(entry ?? {})).toEqual(["__proto__"]);
    expect(JSON.parse(JSON.stringify(mapped)).top_logprobs).toEqual([
      JSON.parse('{"__proto__": -1}'),
    ]);
  });

  it("fits the spec's choice logprobs inside a text_completion", () => {
    expectMatchesComponent("CreateCompletionResponse", {
      id: "cmpl-test",
      object: "text_completion",
      created: 1,
      model: "gpt-3.5-turbo-instruct",
      choices: [
        {
          text: "The tide rises",
          index: 0,
          logprobs: completionLogprobsOf(LOGPROBS, 3, 0),
          finish_reason: "stop",
        },
      ],
    });
  });
});
