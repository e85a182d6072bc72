import { toUpstreamChatMessages } from "../../translate/chat-messages-to-upstream.js";
import type { EmbedRequest, FunctionTool, GenerateRequest, ToolChoice } from "../backend.js";
import { BackendError } from "../backend.js";

/**
 * The bodies ferry POSTs upstream. Every contract field that has a value is sent; one left unset
 * (null, empty, the contract's default) is left out, so the server's own default applies and a
 * server that does not know a field is not sent it for nothing.
 */

/** The body of `POST /chat/completions`. */
export function chatRequestBody(request: GenerateRequest, isStream: boolean) {
  return {
    model: request.model,
    messages: toUpstreamChatMessages(request.messages),
    ...toolFields(request.tools, request.toolChoice, request.parallelToolCalls),
    ...responseFormatField(request),
    ...maxTokensField(request),
    ...samplingFields(request),
    ...(request.sampling.logprobs
      ? {
          logprobs: true,
          ...(request.sampling.topLogprobs === null
            ? {}
            : { top_logprobs: request.sampling.topLogprobs }),
        }
      : {}),
    ...(request.reasoningEffort === null ? {} : { reasoning_effort: request.reasoningEffort }),
    ...userField(request),
    ...streamFields(isStream),
  };
}

/**
 * The body of the legacy `POST /completions`, for a request with a raw `prompt`. The legacy
 * API has no tools and no response format, so a request with them is refused rather than sent
 * without them; its `logprobs` is the number of alternatives (0 for the chosen tokens alone).
 */
export function completionRequestBody(
  request: GenerateRequest & { prompt: string },
  isStream: boolean,
) {
  if (request.tools.length > 0 || request.outputFormat.type !== "text") {
    throw new BackendError(
      "The legacy completions API takes no tools or response_format; send them to chat completions.",
      { status: 400, param: request.tools.length > 0 ? "tools" : "response_format" },
    );
  }
  return {
    model: request.model,
    prompt: request.prompt,
    ...maxTokensField(request),
    ...samplingFields(request),
    ...(request.sampling.logprobs ? { logprobs: request.sampling.topLogprobs ?? 0 } : {}),
    ...userField(request),
    ...streamFields(isStream),
  };
}

function maxTokensField(request: GenerateRequest) {
  // Not max_completion_tokens: vLLM, llama.cpp and Ollama's /v1 only know the older name,
  // and OpenAI still accepts it for non-reasoning models.
  return request.maxOutputTokens === null ? {} : { max_tokens: request.maxOutputTokens };
}

/** The sampling knobs both endpoints share. */
function samplingFields({ sampling }: GenerateRequest) {
  return {
    ...(sampling.temperature === null ? {} : { temperature: sampling.temperature }),
    ...(sampling.topP === null ? {} : { top_p: sampling.topP }),
    ...(sampling.stop.length === 0 ? {} : { stop: sampling.stop }),
    ...(sampling.seed === null ? {} : { seed: sampling.seed }),
    ...(sampling.presencePenalty === null ? {} : { presence_penalty: sampling.presencePenalty }),
    ...(sampling.frequencyPenalty === null ? {} : { frequency_penalty: sampling.frequencyPenalty }),
    ...(sampling.logitBias === null ? {} : { logit_bias: sampling.logitBias }),
  };
}

function userField(request: GenerateRequest) {
  return request.user === null ? {} : { user: request.user };
}

function streamFields(isStream: boolean) {
  return {
    stream: isStream,
    // Without it a stream carries no token counts at all.
    ...(isStream ? { stream_options: { include_usage: true } } : {}),
  };
}

/**
 * `tools`, `tool_choice` and `parallel_tool_calls`, none of them without tools (OpenAI rejects
 * a tool_choice with no tools). "auto" is left out: it is every server's default once tools are
 * given. Responses' `allowed_tools` has no Chat equivalent that vLLM or llama.cpp know, so only
 * the allowed tools are sent, with auto or required. `parallel_tool_calls` is always sent with
 * tools, because servers disagree on its default (llama.cpp: false; OpenAI, vLLM: true).
 */
function toolFields(tools: readonly FunctionTool[], choice: ToolChoice, parallel: boolean) {
  const sent =
    choice.type === "allowed" ? tools.filter((t) => choice.names.includes(t.name)) : tools;
  if (sent.length === 0) {
    return {};
  }
  const toolChoice = upstreamToolChoice(choice);
  return {
    tools: sent.map((tool) => ({
      type: "function" as const,
      function: {
        name: tool.name,
        ...(tool.description === null ? {} : { description: tool.description }),
        ...(tool.parameters === null ? {} : { parameters: tool.parameters }),
        ...(tool.strict ? { strict: true } : {}),
      },
    })),
    ...(toolChoice === "auto" ? {} : { tool_choice: toolChoice }),
    parallel_tool_calls: parallel,
  };
}

function upstreamToolChoice(choice: ToolChoice) {
  switch (choice.type) {
    case "auto":
    case "none":
    case "required":
      return choice.type;
    case "function":
      return { type: "function" as const, function: { name: choice.name } };
    case "allowed":
      return choice.mode;
  }
}

function responseFormatField({ outputFormat: format }: GenerateRequest) {
  switch (format.type) {
    case "text":
      return {};
    case "json_object":
      return { response_format: { type: "json_object" as const } };
    case "json_schema":
      return {
        response_format: {
          type: "json_schema" as const,
          json_schema: {
            name: format.name,
            schema: format.schema,
            strict: format.strict,
            ...(format.description === null ? {} : { description: format.description }),
          },
        },
      };
  }
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
