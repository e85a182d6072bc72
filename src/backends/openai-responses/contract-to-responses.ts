import { BackendError } from "../backend.js";
import type {
  ContentPart,
  GenerateRequest,
  ModelMessage,
  OutputFormat,
  ToolChoice,
} from "../model-contract.js";

/**
 * A Responses body for a request that came without one (a Chat Completions call, or a chat batch
 * line, for a model this backend serves): the contract written in the Responses API's terms.
 * What the Responses API has no field for (seed, stop, penalties, logit_bias, input audio) is a
 * 400 naming the parameter, never a silent drop. A legacy Completions `prompt` goes as the user
 * message `messages` holds for it: the Responses API only answers conversations, as the mock does.
 */
export function responsesBodyFromContract(request: GenerateRequest): Record<string, unknown> {
  rejectUnsupportedSampling(request);
  const { sampling } = request;
  return {
    model: request.model,
    input: request.messages.flatMap(toInputItems),
    ...(request.tools.length === 0
      ? {}
      : {
          tools: request.tools.map((tool) => ({
            type: "function",
            name: tool.name,
            description: tool.description,
            parameters: tool.parameters,
            strict: tool.strict,
          })),
          tool_choice: toToolChoice(request.toolChoice),
          parallel_tool_calls: request.parallelToolCalls,
        }),
    text: { format: toTextFormat(request.outputFormat) },
    ...(sampling.temperature === null ? {} : { temperature: sampling.temperature }),
    ...(sampling.topP === null ? {} : { top_p: sampling.topP }),
    ...(sampling.logprobs
      ? {
          include: ["message.output_text.logprobs"],
          ...(sampling.topLogprobs === null ? {} : { top_logprobs: sampling.topLogprobs }),
        }
      : {}),
    ...(request.maxOutputTokens === null ? {} : { max_output_tokens: request.maxOutputTokens }),
    ...(request.reasoningEffort === null ? {} : { reasoning: { effort: request.reasoningEffort } }),
    ...(request.user === null ? {} : { safety_identifier: request.user }),
    ...(Object.keys(request.metadata).length === 0 ? {} : { metadata: request.metadata }),
  };
}

function rejectUnsupportedSampling(request: GenerateRequest): void {
  const { sampling } = request;
  const unsupported: [string, boolean][] = [
    ["seed", sampling.seed !== null],
    ["stop", sampling.stop.length > 0],
    ["presence_penalty", sampling.presencePenalty !== null],
    ["frequency_penalty", sampling.frequencyPenalty !== null],
    ["logit_bias", sampling.logitBias !== null],
  ];
  const param = unsupported.find(([, isSet]) => isSet)?.[0];
  if (param !== undefined) {
    throw unsupported400(
      param,
      `'${param}' is not supported by model '${request.model}', whose upstream speaks the ` +
        "Responses API, which has no such parameter; remove it.",
    );
  }
}

function toInputItems(message: ModelMessage): Record<string, unknown>[] {
  switch (message.role) {
    case "system":
    case "developer":
    case "user":
      return [{ role: message.role, content: message.content.map(toInputPart) }];
    case "assistant": {
      const items: Record<string, unknown>[] = [];
      if (message.content.length > 0) {
        items.push({
          type: "message",
          role: "assistant",
          content: message.content.map(toAssistantPart),
        });
      }
      for (const call of message.toolCalls ?? []) {
        items.push({
          type: "function_call",
          call_id: call.id,
          name: call.name,
          arguments: call.arguments,
        });
      }
      // `reasoning` text is not sent back: the Responses API takes reasoning only as the items
      // it produced (with their ids or encrypted content), never as plain text.
      return items;
    }
    case "tool": {
      const isAllText = message.content.every((part) => part.type === "text");
      return [
        {
          type: "function_call_output",
          call_id: message.toolCallId,
          output: isAllText
            ? message.content.map((part) => (part.type === "text" ? part.text : "")).join("")
            : message.content.map(toInputPart),
        },
      ];
    }
  }
}

function toInputPart(part: ContentPart): Record<string, unknown> {
  switch (part.type) {
    case "text":
      return { type: "input_text", text: part.text };
    case "image":
      return { type: "input_image", image_url: part.url, detail: part.detail };
    case "file":
      return {
        type: "input_file",
        ...(part.data === undefined ? {} : { file_data: part.data }),
        ...(part.url === undefined ? {} : { file_url: part.url }),
        ...(part.filename === undefined ? {} : { filename: part.filename }),
      };
    case "audio":
      throw unsupported400(
        "messages",
        "Input audio is not supported by this model's upstream, which speaks the Responses " +
          "API; send text, images or files.",
      );
    case "refusal":
      // Only an assistant writes refusals; a refusal elsewhere is passed on as what it says.
      return { type: "input_text", text: part.refusal };
  }
}

function toAssistantPart(part: ContentPart): Record<string, unknown> {
  if (part.type === "refusal") {
    return { type: "refusal", refusal: part.refusal };
  }
  if (part.type === "text") {
    return { type: "output_text", text: part.text, annotations: [] };
  }
  throw unsupported400(
    "messages",
    `An assistant message with ${part.type} content cannot be sent to this model's upstream; ` +
      "assistant messages take text and refusals.",
  );
}

function toToolChoice(choice: ToolChoice): unknown {
  switch (choice.type) {
    case "auto":
    case "none":
    case "required":
      return choice.type;
    case "function":
      return { type: "function", name: choice.name };
    case "allowed":
      return {
        type: "allowed_tools",
        mode: choice.mode,
        tools: choice.names.map((name) => ({ type: "function", name })),
      };
  }
}

function toTextFormat(format: OutputFormat): Record<string, unknown> {
  if (format.type !== "json_schema") {
    return { type: format.type };
  }
  return {
    type: "json_schema",
    name: format.name,
    schema: format.schema,
    strict: format.strict,
    ...(format.description === null ? {} : { description: format.description }),
  };
}

function unsupported400(param: string, message: string): BackendError {
  return new BackendError(message, { status: 400, param, code: "unsupported_parameter" });
}
