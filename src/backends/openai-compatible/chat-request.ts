import { toUpstreamChatMessages } from "../../translate/chat-messages-to-upstream.js";
import type { EmbedRequest, GenerateRequest } from "../backend.js";

/** The body of `POST /chat/completions`; unset knobs are left out so the server's defaults apply. */
export function chatRequestBody(request: GenerateRequest, isStream: boolean) {
  return {
    model: request.model,
    messages: toUpstreamChatMessages(request.messages),
    // Not max_completion_tokens: vLLM, llama.cpp and Ollama's /v1 only know the older name,
    // and OpenAI still accepts it for non-reasoning models.
    ...(request.maxOutputTokens === null ? {} : { max_tokens: request.maxOutputTokens }),
    ...(request.sampling.temperature === null ? {} : { temperature: request.sampling.temperature }),
    ...(request.sampling.topP === null ? {} : { top_p: request.sampling.topP }),
    stream: isStream,
    // Without it a stream carries no token counts at all.
    ...(isStream ? { stream_options: { include_usage: true } } : {}),
  };
}

/** The body of `POST /embeddings`. Floats, not the SDKs' default base64: every server has them. */
export function embeddingsRequestBody(request: EmbedRequest) {
  return {
    model: request.model,
    input: request.inputs,
    encoding_format: "float",
    ...(request.dimensions === null ? {} : { dimensions: request.dimensions }),
  };
}
