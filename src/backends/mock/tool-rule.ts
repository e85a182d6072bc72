import { createHash } from "node:crypto";
import { BackendError } from "../backend.js";
import type { FunctionTool, ModelMessage, ToolCall, ToolChoice } from "../model-contract.js";
import { hintWords, SchemaSampleError, sampleJson } from "./schema-sampler.js";

/**
 * Which tools the mock calls, and with what (the rule is README's "The mock backend"):
 * - the `mock_tool_call` knob wins: a tool name forces that call, "none" forbids calls;
 * - `tool_choice: none`, or no tools: no call;
 * - a named function: that one; `required`: the best match, else the first tool;
 * - after a tool result (the last message is role `tool`), `auto` answers in text instead;
 * - `auto`: every tool that matches the last user message (by name, or by a shared keyword
 *   with its name or description), in the order of `tools`, at most MAX_PARALLEL_CALLS of
 *   them; only the best one when `parallel_tool_calls` is false.
 * `allowed_tools` narrows the candidates first, its mode acting as `auto` / `required`.
 */

export type ToolCallKnob =
  | { readonly kind: "force"; readonly name: string }
  | { readonly kind: "forbid" }
  | null;

export interface ToolRuleInput {
  readonly messages: readonly ModelMessage[];
  readonly tools: readonly FunctionTool[];
  readonly toolChoice: ToolChoice;
  readonly parallelToolCalls: boolean;
  readonly knob: ToolCallKnob;
}

/** The tools to call, in order; empty for a text answer. Throws a 400 for a name not in `tools`. */
export function chooseToolsToCall(input: ToolRuleInput): FunctionTool[] {
  const { tools, toolChoice, knob } = input;
  if (knob?.kind === "forbid") {
    return [];
  }
  if (knob?.kind === "force") {
    return [findTool(tools, knob.name, "metadata.mock_tool_call")];
  }
  if (tools.length === 0 || toolChoice.type === "none") {
    return [];
  }
  if (toolChoice.type === "function") {
    return [findTool(tools, toolChoice.name, "tool_choice")];
  }
  const candidates =
    toolChoice.type === "allowed"
      ? tools.filter((tool) => toolChoice.names.includes(tool.name))
      : tools;
  const isRequired =
    toolChoice.type === "required" ||
    (toolChoice.type === "allowed" && toolChoice.mode === "required");
  const scored = scoreTools(candidates, lastUserText(input.messages));
  if (isRequired) {
    const first = candidates[0];
    const best = bestOf(scored) ?? first;
    return best === undefined ? [] : [best];
  }
  if (input.messages.at(-1)?.role === "tool") {
    return [];
  }
  if (!input.parallelToolCalls) {
    const best = bestOf(scored);
    return best === undefined ? [] : [best];
  }
  return scored
    .filter((entry) => entry.score > 0)
    .slice(0, MAX_PARALLEL_CALLS)
    .map((entry) => entry.tool);
}

/**
 * At most this many parallel calls in one answer (a real model makes a handful). Each call
 * samples its tool's schema and compiles it with Ajv (~2 ms for a new schema): 10,000 matching
 * tools held the event loop for 20 s.
 */
export const MAX_PARALLEL_CALLS = 16;

/**
 * The calls of `tools`: ids `call_` + 24 characters and arguments sampled from each tool's
 * parameters, both derived from `conversationSeed` (what the whole answer depends on), the
 * call's index and the tool; string arguments take words of the last user message.
 */
export function buildToolCalls(
  tools: readonly FunctionTool[],
  messages: readonly ModelMessage[],
  conversationSeed: string,
): ToolCall[] {
  const hints = hintWords(lastUserText(messages));
  return tools.map((tool, index) => {
    const seed = `${conversationSeed}\u0000call ${index}\u0000${tool.name}`;
    // No declared parameters: any object will do, and the empty one is the plainest.
    const args = tool.parameters === null ? {} : sampleParameters(tool, seed, hints);
    return { id: callId(seed), name: tool.name, arguments: JSON.stringify(args) };
  });
}

function sampleParameters(tool: FunctionTool, seed: string, hints: readonly string[]) {
  try {
    return sampleJson(tool.parameters ?? {}, { seed, hints });
  } catch (error) {
    if (error instanceof SchemaSampleError) {
      throw new BackendError(`Invalid schema for function '${tool.name}': ${error.message}`, {
        status: 400,
        retryable: false,
        param: "tools",
        code: "invalid_function_parameters",
      });
    }
    throw error;
  }
}

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function callId(seed: string): string {
  const digest = createHash("sha256").update(seed).digest();
  let id = "call_";
  for (let index = 0; index < 24; index++) {
    id += ID_ALPHABET[(digest[index] ?? 0) % ID_ALPHABET.length];
  }
  return id;
}

function findTool(tools: readonly FunctionTool[], name: string, param: string): FunctionTool {
  const tool = tools.find((candidate) => candidate.name === name);
  if (tool === undefined) {
    const known = tools.map((candidate) => `'${candidate.name}'`).join(", ") || "none";
    throw new BackendError(
      `Invalid '${param}': no function named '${name}' is among the request's tools (${known}).`,
      { status: 400, retryable: false, param },
    );
  }
  return tool;
}

/** The text parts of the last user message, joined. */
export function lastUserText(messages: readonly ModelMessage[]): string {
  for (let index = messages.length - 1; index >= 0; index--) {
    const message = messages[index];
    if (message?.role === "user") {
      return message.content.map((part) => (part.type === "text" ? part.text : "")).join(" ");
    }
  }
  return "";
}

interface ScoredTool {
  readonly tool: FunctionTool;
  readonly score: number;
}

// A tool named in the message outranks any count of shared keywords.
const NAME_MATCH_SCORE = 1000;
const MAX_MATCH_CHARS = 20_000;

function scoreTools(tools: readonly FunctionTool[], text: string): ScoredTool[] {
  const message = text.slice(0, MAX_MATCH_CHARS).toLowerCase();
  const spacedMessage = ` ${spaced(message)} `;
  const messageKeywords = keywordsOf(message);
  return tools.map((tool) => {
    const isNamed =
      message.includes(tool.name.toLowerCase()) ||
      spacedMessage.includes(` ${spaced(splitCamelCase(tool.name))} `);
    const toolKeywords = keywordsOf(
      `${splitCamelCase(tool.name)} ${tool.description ?? ""}`.toLowerCase(),
    );
    let shared = 0;
    for (const keyword of toolKeywords) {
      if (messageKeywords.has(keyword)) {
        shared++;
      }
    }
    return { tool, score: (isNamed ? NAME_MATCH_SCORE : 0) + shared };
  });
}

/** The highest score above zero; the earliest on a tie. */
function bestOf(scored: readonly ScoredTool[]): FunctionTool | undefined {
  let best: ScoredTool | undefined;
  for (const entry of scored) {
    if (entry.score > 0 && (best === undefined || entry.score > best.score)) {
      best = entry;
    }
  }
  return best?.tool;
}

function splitCamelCase(name: string): string {
  return name.replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, "$1 $2");
}

/** Lower-case words separated by single spaces; `_`, `-` and punctuation read as spaces. */
function spaced(text: string): string {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word !== "")
    .join(" ");
}

// Words of four letters or more that say nothing about which tool is meant.
const STOPWORDS = new Set(
  (
    "about above after again against also because been before being below between both could " +
    "does doing done down during each either from further have having here hers herself himself " +
    "into itself just like more most much must myself only other ought ours ourselves over " +
    "please same should some such than that their theirs them themselves then there these " +
    "they this those through under until very want what whats when where which while whom with " +
    "would your yours yourself yourselves tell give make explain write describe show know need " +
    "using used uses will shall might can't don't today call calls calling function functions " +
    "tool tools returns return given value values current currently specified specific provided " +
    "information info data result results"
  ).split(" "),
);

function keywordsOf(text: string): Set<string> {
  const keywords = new Set<string>();
  for (const word of text.split(/[^\p{L}\p{N}']+/u)) {
    const clean = word.replace(/'s$|^'+|'+$/g, "");
    if (clean.length >= 4 && /\p{L}/u.test(clean) && !STOPWORDS.has(clean)) {
      keywords.add(clean);
    }
  }
  return keywords;
}
