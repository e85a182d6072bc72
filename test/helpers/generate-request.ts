import type { GenerateRequest, ModelMessage } from "../../src/backends/backend.js";
import { DEFAULT_SAMPLING } from "../../src/backends/model-contract.js";

/** A plain GenerateRequest: one user message of `text`, nothing else set, then `overrides`. */
export function generateRequest(
  text: string,
  overrides: Partial<GenerateRequest> = {},
): GenerateRequest {
  return {
    model: "gpt-4o-mini",
    messages: [userMessage(text)],
    tools: [],
    toolChoice: { type: "auto" },
    parallelToolCalls: true,
    outputFormat: { type: "text" },
    sampling: DEFAULT_SAMPLING,
    maxOutputTokens: null,
    reasoningEffort: null,
    user: null,
    metadata: {},
    ...overrides,
  };
}

export function userMessage(text: string): ModelMessage {
  return { role: "user", content: [{ type: "text", text }] };
}

/** The text a generation's event stream carries. */
export async function streamedText(events: AsyncIterable<{ type: string; text?: string }>) {
  let text = "";
  for await (const event of events) {
    text += event.type === "text.delta" ? (event.text ?? "") : "";
  }
  return text;
}
