import { BackendError } from "../backend.js";
import { textsOfMessage } from "../message-text.js";
import type { ContentPart, GenerateRequest } from "../model-contract.js";
import { imageDimensionsOf, imageTokens } from "./image-tokens.js";

/**
 * A request's input tokens as OpenAI bills them, near enough: each message's framing and
 * content (text through the tokenizer, images by detail and size), the calls and outputs of
 * earlier tool turns, and the tool definitions and response schema the model is shown.
 */

// OpenAI's chat format spends 3 tokens framing each message and 3 priming the reply
// (see OpenAI's "How to count tokens with tiktoken" cookbook).
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PRIMING_REPLY = 3;

export function countInputTokens(
  request: Pick<GenerateRequest, "messages" | "tools" | "outputFormat">,
  countText: (text: string) => number,
): number {
  let total = TOKENS_PRIMING_REPLY;
  for (const message of request.messages) {
    total += TOKENS_PER_MESSAGE;
    // Text, refusals, earlier calls and reasoning, as the context check counts them.
    for (const text of textsOfMessage(message)) {
      total += countText(text);
    }
    for (const part of message.content) {
      total += countMediaPart(part, countText);
    }
  }
  if (request.tools.length > 0) {
    total += countText(JSON.stringify(request.tools));
  }
  if (request.outputFormat.type === "json_schema") {
    total += countText(JSON.stringify(request.outputFormat.schema));
  }
  return total;
}

function countMediaPart(part: ContentPart, countText: (text: string) => number): number {
  switch (part.type) {
    case "text":
    case "refusal":
      return 0;
    case "image": {
      const size = imageDimensionsOf(part.url);
      if (size === null) {
        // OpenAI's answer to image bytes it cannot decode.
        throw new BackendError(
          "You uploaded an unsupported image. Please make sure your image has of one the following formats: ['png', 'jpeg', 'gif', 'webp'].",
          { status: 400, retryable: false, code: "invalid_image_format" },
        );
      }
      return imageTokens(size, part.detail);
    }
    // The mock does not read documents or audio; their name and format stand in for them.
    case "file":
      return countText(part.filename ?? "file");
    case "audio":
      return countText(part.format);
  }
}
