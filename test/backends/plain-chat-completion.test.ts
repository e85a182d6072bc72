import { describe, expect, it } from "vitest";
import { generationOfChatCompletion } from "../../src/backends/openai-compatible/answer-items.js";
import { isPlainChatCompletion } from "../../src/backends/openai-compatible/plain-chat-completion.js";
import { ChatCompletionSchema } from "../../src/backends/openai-compatible/wire-schemas.js";

/**
 * The fast path past the zod parse must accept only answers the schema accepts, and read them
 * into the same generation; everything else must be left to the schema.
 */

const plain = {
  id: "chatcmpl-1",
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "Paris." }, finish_reason: "stop" }],
  usage: { prompt_tokens: 14, completion_tokens: 3, total_tokens: 17 },
};

const accepted: Record<string, unknown> = {
  "OpenAI's plain answer": plain,
  "vLLM's, with nulls and extra fields": {
    id: "cmpl-9",
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: "Hi", reasoning_content: null, tool_calls: null },
        logprobs: null,
        finish_reason: "length",
        stop_reason: null,
      },
    ],
    usage: { prompt_tokens: 5, completion_tokens: 1, prompt_tokens_details: null },
  },
  "reasoning and a refusal": {
    choices: [{ message: { content: null, refusal: "No.", reasoning: "Hmm" } }],
  },
  "usage details": {
    choices: [{ message: { content: "x" }, finish_reason: null }],
    usage: {
      prompt_tokens: 9,
      completion_tokens: 2,
      prompt_tokens_details: { cached_tokens: 4 },
      completion_tokens_details: { reasoning_tokens: 1 },
    },
  },
};

const refused: Record<string, unknown> = {
  "tool calls": {
    choices: [
      {
        message: {
          content: null,
          tool_calls: [{ id: "c1", function: { name: "f", arguments: "{}" } }],
        },
        finish_reason: "tool_calls",
      },
    ],
  },
  "a legacy function call": {
    choices: [{ message: { function_call: { name: "f", arguments: "{}" } } }],
  },
  logprobs: {
    choices: [{ message: { content: "x" }, logprobs: { content: [] } }],
  },
  "two choices": { choices: [plain.choices[0], plain.choices[0]] },
  "no choices": { choices: [] },
  "content that is not text": { choices: [{ message: { content: 3 } }] },
  "a numeric id": { id: 7, choices: plain.choices },
  "usage that is not a number": {
    choices: plain.choices,
    usage: { prompt_tokens: "14" },
  },
  "cached tokens that are not a number": {
    choices: plain.choices,
    usage: { prompt_tokens_details: { cached_tokens: "4" } },
  },
  "an error envelope": { error: { message: "overloaded" } },
  "token counts past a double (JSON's 1e400 parses as Infinity)": JSON.parse(
    '{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":1e400}}',
  ),
  "an array": [plain],
};

describe("isPlainChatCompletion", () => {
  for (const [name, answer] of Object.entries(accepted)) {
    it(`takes ${name} as the schema reads it`, () => {
      const parsed = ChatCompletionSchema.safeParse(answer);

      expect(isPlainChatCompletion(answer)).toBe(true);
      expect(parsed.success).toBe(true);
      expect(generationOfChatCompletion(answer as never)).toEqual(
        generationOfChatCompletion(parsed.data as never),
      );
    });
  }

  for (const [name, answer] of Object.entries(refused)) {
    it(`leaves ${name} to the schema`, () => {
      expect(isPlainChatCompletion(answer)).toBe(false);
    });
  }
});
