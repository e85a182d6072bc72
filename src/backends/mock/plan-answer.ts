import { assertSchemaDepth } from "../../lib/json-schema-validator.js";
import { internIdOf } from "../../lib/json-text.js";
import { BackendError } from "../backend.js";
import type {
  FunctionTool,
  GenerateRequest,
  ModelMessage,
  OutputItemStart,
  TokenLogprob,
} from "../model-contract.js";
import { composeReply } from "./compose-reply.js";
import { imageDimensionsOf } from "./image-tokens.js";
import type { MockKnobs } from "./mock-knobs.js";
import { hintWords, SchemaSampleError, sampleJson } from "./schema-sampler.js";
import { cutAtStopSequence } from "./stop-sequences.js";
import { tokenLogprobs } from "./token-logprobs.js";
import { decodeTokenPieces, encodeText } from "./tokenizer.js";
import { answerFromToolOutputs } from "./tool-answer.js";
import { buildToolCalls, chooseToolsToCall, lastUserText } from "./tool-rule.js";

/**
 * What the mock will answer, item by item, before any output limit or pacing: the cached unit
 * of the mock (planning samples schemas and runs the tokenizer; a repeated request skips both).
 * The rules are README's "The mock backend" (and /work/wt/MOCK-RULES.md): reasoning first when
 * asked for, then either function calls or one message (a refusal, JSON for a json format, the
 * tool outputs' summary after tool results, or the composed reply).
 */

export interface PlannedItem {
  readonly start: OutputItemStart;
  /** For a message: whether its one part is text or a refusal. */
  readonly part: "text" | "refusal" | null;
  /** The item's text: message text, refusal, reasoning text or call arguments. */
  readonly text: string;
  readonly tokens: readonly number[];
  /** The text token by token, as streamed (a multi-byte character split over tokens is one piece). */
  readonly pieces: readonly string[];
  /** One entry per piece, when the request asked for logprobs on a text part. */
  readonly logprobs: readonly TokenLogprob[] | null;
}

export interface PlannedAnswer {
  readonly items: readonly PlannedItem[];
  readonly isToolCall: boolean;
  /** The seed the answer was derived from (logprobs of a cut text are drawn from it again). */
  readonly seed: string;
  readonly topLogprobs: number;
}

/** What the answer depends on, as one string (the reply cache's key). */
export function answerSeed(request: GenerateRequest, knobs: MockKnobs): string {
  // JSON.stringify overflows the stack on a schema nested thousands deep: a 400 first.
  assertSchemasNotTooDeep(request);
  return JSON.stringify([
    request.model,
    request.choiceIndex ?? 0,
    request.messages,
    request.tools,
    request.toolChoice,
    request.parallelToolCalls,
    request.outputFormat,
    request.reasoningEffort,
    request.sampling.seed,
    request.sampling.stop,
    request.sampling.logprobs,
    request.sampling.topLogprobs,
    knobs.toolCall,
    knobs.refusal,
    knobs.reasoning,
  ]);
}

/**
 * The reply cache's key: what answerSeed covers, with each interned schema (a tool's
 * parameters, the format's schema) as its intern id rather than its text, so a repeated request
 * with tools costs a short key, not a re-encoding of its schemas. A schema that was not interned
 * is written out in full: equal keys still mean equal seeds.
 */
export function answerKey(request: GenerateRequest, knobs: MockKnobs): string {
  // Before encoding: a schema deep enough would overflow JSON.stringify's stack.
  assertSchemasNotTooDeep(request);
  const format = request.outputFormat;
  return JSON.stringify([
    request.model,
    request.choiceIndex ?? 0,
    request.messages,
    toolsKey(request.tools),
    request.toolChoice,
    request.parallelToolCalls,
    format.type === "json_schema" ? { ...format, schema: schemaKey(format.schema) } : format,
    request.reasoningEffort,
    request.sampling.seed,
    request.sampling.stop,
    request.sampling.logprobs,
    request.sampling.topLogprobs,
    knobs.toolCall,
    knobs.refusal,
    knobs.reasoning,
  ]);
}

// Ids of tools arrays that cannot change (frozen, each tool frozen, each schema interned): the
// service hands the backend one such array for each tools array clients repeat, so the key
// does not spell out five tools' names and descriptions (nor the cache hash them) every time.
const sharedToolsIds = new WeakMap<readonly FunctionTool[], number>();
let lastSharedToolsId = 0;

/** A shared tools array's id (a number), else the tools with their schemas' keys: never equal. */
function toolsKey(tools: readonly FunctionTool[]): number | readonly unknown[] {
  const known = sharedToolsIds.get(tools);
  if (known !== undefined) {
    return known;
  }
  const isShared =
    Object.isFrozen(tools) &&
    tools.every(
      (tool) =>
        Object.isFrozen(tool) &&
        (tool.parameters === null || internIdOf(tool.parameters) !== undefined),
    );
  if (isShared) {
    sharedToolsIds.set(tools, ++lastSharedToolsId);
    return lastSharedToolsId;
  }
  return tools.map((tool) =>
    tool.parameters === null ? tool : { ...tool, parameters: schemaKey(tool.parameters) },
  );
}

/** An interned schema's id (a number), else the schema itself (an object): never equal. */
function schemaKey(schema: object): number | object {
  return internIdOf(schema) ?? schema;
}

function assertSchemasNotTooDeep(request: GenerateRequest): void {
  const check = (schema: unknown, param: string, code: string, what: string) => {
    // An interned schema came in a request body, whose nesting is bounded already.
    if (typeof schema === "object" && schema !== null && internIdOf(schema) !== undefined) {
      return;
    }
    try {
      assertSchemaDepth(schema);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new BackendError(`Invalid schema for ${what}: ${reason}.`, {
        status: 400,
        retryable: false,
        param,
        code,
      });
    }
  };
  for (const tool of request.tools) {
    check(tool.parameters, "tools", "invalid_function_parameters", `function '${tool.name}'`);
  }
  if (request.outputFormat.type === "json_schema") {
    check(
      request.outputFormat.schema,
      "response_format",
      "invalid_json_schema",
      `response_format '${request.outputFormat.name}'`,
    );
  }
}

export function planAnswer(
  request: GenerateRequest,
  knobs: MockKnobs,
  seed: string,
): PlannedAnswer {
  const items: PlannedItem[] = [];
  const topLogprobs = request.sampling.topLogprobs ?? 0;
  const calledTools =
    knobs.refusal === null
      ? chooseToolsToCall({
          messages: request.messages,
          tools: request.tools,
          toolChoice: request.toolChoice,
          parallelToolCalls: request.parallelToolCalls,
          knob: knobs.toolCall,
        })
      : [];
  const isReasoning =
    knobs.reasoning || (request.reasoningEffort !== null && request.reasoningEffort !== "none");
  if (isReasoning) {
    const text = reasoningText(
      request,
      calledTools.map((tool) => tool.name),
      knobs,
    );
    items.push(plannedItem({ type: "reasoning" }, null, text, null));
  }
  if (calledTools.length > 0) {
    for (const call of buildToolCalls(calledTools, request.messages, seed)) {
      items.push(
        plannedItem(
          { type: "function_call", callId: call.id, name: call.name },
          null,
          call.arguments,
          null,
        ),
      );
    }
    return { items, isToolCall: true, seed, topLogprobs };
  }
  if (knobs.refusal !== null) {
    items.push(plannedItem({ type: "message" }, "refusal", knobs.refusal, null));
    return { items, isToolCall: false, seed, topLogprobs };
  }
  const { text } = cutAtStopSequence(messageText(request, seed), request.sampling.stop);
  const logprobsOf = request.sampling.logprobs
    ? (pieces: readonly string[]) => tokenLogprobs(pieces, seed, topLogprobs)
    : null;
  items.push(plannedItem({ type: "message" }, "text", text, logprobsOf));
  return { items, isToolCall: false, seed, topLogprobs };
}

function plannedItem(
  start: OutputItemStart,
  part: PlannedItem["part"],
  text: string,
  logprobsOf: ((pieces: readonly string[]) => TokenLogprob[]) | null,
): PlannedItem {
  const tokens = encodeText(text);
  const pieces = [...decodeTokenPieces(tokens)];
  return {
    start,
    part,
    text,
    tokens,
    pieces,
    logprobs: logprobsOf === null ? null : logprobsOf(pieces),
  };
}

function messageText(request: GenerateRequest, seed: string): string {
  const format = request.outputFormat;
  const toolAnswer = answerFromToolOutputs(request.messages);
  if (format.type === "json_schema") {
    const hints = hintWords(lastUserText(request.messages));
    try {
      return JSON.stringify(sampleJson(format.schema, { seed, hints }));
    } catch (error) {
      if (error instanceof SchemaSampleError) {
        throw new BackendError(
          `Invalid schema for response_format '${format.name}': ${error.message}`,
          { status: 400, retryable: false, param: "response_format", code: "invalid_json_schema" },
        );
      }
      throw error;
    }
  }
  const reply =
    toolAnswer ??
    withImageNote(
      request.messages,
      composeReply(request.model, request.messages, request.choiceIndex),
    );
  return format.type === "json_object" ? JSON.stringify({ answer: reply }) : reply;
}

/** "I see an image (640×480)." ahead of the reply, so a test sees its image arrived. */
function withImageNote(messages: readonly ModelMessage[], reply: string): string {
  const last = [...messages].reverse().find((message) => message.role === "user");
  const images = (last?.content ?? []).filter((part) => part.type === "image");
  if (images.length === 0) {
    return reply;
  }
  if (images.length === 1 && images[0]?.type === "image") {
    const size = imageDimensionsOf(images[0].url);
    const dimensions = size === null ? "" : ` (${size.width}×${size.height})`;
    return `I see an image${dimensions}. ${reply}`;
  }
  return `I see ${images.length} images. ${reply}`;
}

const EFFORT_SENTENCES = { minimal: 1, low: 2, medium: 3, high: 4, xhigh: 5, none: 2 } as const;

function reasoningText(
  request: GenerateRequest,
  calls: readonly string[],
  knobs: MockKnobs,
): string {
  const words = hintWords(lastUserText(request.messages)).filter((word) => word.length >= 4);
  const topic = words.length > 0 ? words.slice(0, 3).join(" ").toLowerCase() : "the request";
  const format = request.outputFormat;
  const plan =
    knobs.refusal !== null
      ? "This is something I should decline."
      : calls.length > 0
        ? `I will call ${calls.join(" and ")} to get what the answer needs.`
        : request.messages.at(-1)?.role === "tool"
          ? "The tool results are in, so I will answer from them."
          : format.type === "json_schema"
            ? `I will answer with JSON that matches the '${format.name}' schema.`
            : "I will write a short, plain answer.";
  const sentences = [
    `The user is asking about ${topic}.`,
    plan,
    "I should keep it accurate and to the point.",
    "A quick check of the details before answering will help.",
    "Then I will make sure nothing important is missing.",
  ];
  const count = EFFORT_SENTENCES[request.reasoningEffort ?? "none"];
  return sentences.slice(0, Math.max(2, count)).join(" ");
}
