import type { ContentPart, ModelMessage } from "./model-contract.js";

/**
 * The text a message holds, piece by piece: its text and refusal parts, its tool calls' names
 * and arguments, its reasoning. What token counts and the context check read; media parts are
 * not text (an image's data URL is bytes, counted by the backend as an image).
 */
export function* textsOfMessage(message: ModelMessage): Generator<string> {
  yield* textsOfParts(message.content);
  if (message.role === "assistant") {
    if (message.reasoning !== undefined) {
      yield message.reasoning;
    }
    for (const call of message.toolCalls ?? []) {
      yield call.name;
      yield call.arguments;
    }
  }
}

export function* textsOfParts(parts: readonly ContentPart[]): Generator<string> {
  for (const part of parts) {
    if (part.type === "text") {
      yield part.text;
    } else if (part.type === "refusal") {
      yield part.refusal;
    }
  }
}

/** The text parts of `parts` joined with newlines: a message's plain text. */
export function plainText(parts: readonly ContentPart[]): string {
  return [...textsOfParts(parts)].join("\n");
}

/** A content list of one text part: how a plain string content arrives in the contract. */
export function textContent(text: string): ContentPart[] {
  return text === "" ? [] : [{ type: "text", text }];
}
