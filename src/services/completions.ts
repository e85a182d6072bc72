import { decodeTokens } from "../backends/mock/tokenizer.js";
import {
  type FinishReason,
  type GenerateRequest,
  type Generation,
  type GenerationEvent,
  type ModelMessage,
  outputText,
  type TokenLogprob,
  type TokenUsage,
} from "../backends/model-contract.js";
import type { Router } from "../backends/router.js";
import {
  type CreateCompletionRequest,
  DEFAULT_COMPLETION_MAX_TOKENS,
  MAX_COMPLETION_CHOICES,
} from "../contract/completions-request.js";
import type { RetryPolicy } from "../executor/retry.js";
import { ApiError } from "../lib/api-error.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import { newId } from "../lib/ids.js";
import { startOneTurnEach } from "../lib/one-turn-each.js";
import type { CallOptions } from "./call-options.js";
import { type CompletionLogprobs, completionLogprobsOf } from "./completion-logprobs.js";
import { assertFitsContext } from "./context-limit.js";
import { resolveModel } from "./models.js";
import { withRetries } from "./with-retries.js";

/**
 * The legacy Completions API on any backend. Each prompt gets `n` choices, numbered prompt by
 * prompt (prompt p's choice j is index p·n + j, as OpenAI numbers them), each one backend call
 * with `prompt` set: an upstream sends it to `/completions`, the mock answers it as one user
 * message. `echo` is done here, by putting the prompt before the text; the backend never sees it.
 *
 * Refused rather than dropped: `suffix` (insertion: the contract has no way to ask for text
 * that leads up to a given ending), `best_of` other than `n` (choosing the best of several needs
 * a ranking ferry does not have), and `echo` with `logprobs` (that asks for the prompt's tokens
 * scored, which no backend here returns).
 *
 * Token-id prompts are decoded with o200k_base, the mock's tokenizer (gpt-4o's): the text, not
 * the ids, is what travels through the contract. Ids meant for another vocabulary decode to
 * other text.
 */

// ferry is one "system"; the fingerprint lets clients see which server answered.
const SYSTEM_FINGERPRINT = "fp_ferry";

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** `finish_reason` as the legacy API has it: no tools are sent, so never `tool_calls`. */
export type CompletionFinishReason = Exclude<FinishReason, "tool_calls">;

export interface CompletionChoice {
  text: string;
  index: number;
  logprobs: CompletionLogprobs | null;
  finish_reason: CompletionFinishReason;
}

export interface TextCompletion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: CompletionChoice[];
  usage: CompletionUsage;
}

/** A streamed chunk: the same object, with pieces of text and a null finish_reason until the end. */
export interface TextCompletionChunk {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: {
    text: string;
    index: number;
    logprobs: CompletionLogprobs | null;
    finish_reason: CompletionFinishReason | null;
  }[];
  /** Only on the last chunk, with `stream_options.include_usage`. */
  usage?: CompletionUsage;
}

/** One backend call: a choice of one prompt. */
interface ChoiceCall {
  readonly index: number;
  readonly promptIndex: number;
  /** What the choice's text starts with: the prompt with `echo`, else "". */
  readonly prefix: string;
  readonly request: GenerateRequest;
}

export function createCompletionsService(deps: {
  router: Router;
  clock: Clock;
  retry: RetryPolicy;
}) {
  function prepare(request: CreateCompletionRequest) {
    assertSupported(request);
    const n = request.n ?? 1;
    const prompts = promptTexts(request.prompt);
    if (prompts.length * n > MAX_COMPLETION_CHOICES) {
      throw ApiError.invalid(
        "n",
        `This request asks for ${prompts.length * n} completions (${prompts.length} prompts × n=${n}); ` +
          `at most ${MAX_COMPLETION_CHOICES} are allowed. Send fewer prompts or a smaller n.`,
      );
    }
    const resolved = resolveModel(deps.router, request.model);
    const topLogprobs = request.logprobs ?? null;
    const base: Omit<GenerateRequest, "messages" | "prompt" | "choiceIndex"> = {
      model: resolved.upstreamModel,
      tools: [],
      // Chat's defaults for a request without tools, so a backend sees nothing unusual.
      toolChoice: { type: "auto" },
      parallelToolCalls: true,
      outputFormat: { type: "text" },
      sampling: {
        temperature: request.temperature ?? null,
        topP: request.top_p ?? null,
        seed: request.seed ?? null,
        stop: typeof request.stop === "string" ? [request.stop] : (request.stop ?? []),
        presencePenalty: request.presence_penalty ?? null,
        frequencyPenalty: request.frequency_penalty ?? null,
        logitBias: request.logit_bias ?? null,
        logprobs: topLogprobs !== null,
        topLogprobs,
      },
      maxOutputTokens: request.max_tokens ?? DEFAULT_COMPLETION_MAX_TOKENS,
      reasoningEffort: null,
      user: request.user ?? null,
      metadata: {},
    };
    const calls: ChoiceCall[] = [];
    for (const [promptIndex, prompt] of prompts.entries()) {
      const messages: ModelMessage[] = [
        { role: "user", content: [{ type: "text", text: prompt }] },
      ];
      assertFitsContext(messages, resolved.contextTokens, "prompt");
      for (let choice = 0; choice < n; choice++) {
        calls.push({
          index: promptIndex * n + choice,
          promptIndex,
          prefix: request.echo === true ? prompt : "",
          request: { ...base, messages, prompt, choiceIndex: choice },
        });
      }
    }
    return {
      backend: resolved.backend,
      calls,
      topLogprobs,
      header: {
        id: newId("completion"),
        object: "text_completion" as const,
        created: unixSeconds(deps.clock),
        model: request.model,
        system_fingerprint: SYSTEM_FINGERPRINT,
      },
    };
  }

  return {
    /**
     * Runs every check complete() makes before its backend call (a bad request throws its 4xx
     * here) and names the backend that would answer: for work queued now and run later.
     */
    backendFor(request: CreateCompletionRequest): string {
      return prepare(request).backend.name;
    },

    async complete(
      request: CreateCompletionRequest,
      signal: AbortSignal,
      options: CallOptions = {},
    ): Promise<TextCompletion> {
      const { backend, calls, topLogprobs, header } = prepare(request);
      const retry = options.retry ?? deps.retry;
      const generations = await startOneTurnEach(calls, (call) =>
        withRetries(() => backend.generate(call.request, signal, options), retry, signal),
      );
      return {
        ...header,
        choices: calls.map((call, position) => {
          const generation = generations[position] as Generation;
          return {
            text: call.prefix + outputText(generation),
            index: call.index,
            logprobs:
              topLogprobs === null
                ? null
                : completionLogprobsOf(textLogprobs(generation), topLogprobs, call.prefix.length),
            finish_reason: completionFinishReason(generation.finishReason),
          };
        }),
        usage: completionUsage(
          calls,
          generations.map((generation) => generation.usage),
        ),
      };
    },

    /**
     * Resolves once the first choice's backend stream has produced its first event, so an early
     * backend failure is an HTTP error rather than a broken stream. Choices stream one after
     * another; each starts with its echoed prompt (with `echo`) and ends with a chunk that
     * carries its finish_reason.
     */
    async stream(
      request: CreateCompletionRequest,
      signal: AbortSignal,
    ): Promise<AsyncIterable<TextCompletionChunk>> {
      const { backend, calls, topLogprobs, header } = prepare(request);
      const includeUsage = request.stream_options?.include_usage === true;
      const firstCall = calls[0];
      if (firstCall === undefined) {
        return (async function* () {})();
      }
      const { firstStream, firstEvent } = await withRetries(
        async () => {
          const iterator = backend
            .streamGenerate(firstCall.request, signal)
            [Symbol.asyncIterator]();
          return { firstStream: iterator, firstEvent: await iterator.next() };
        },
        deps.retry,
        signal,
      );
      const chunk = (choice: TextCompletionChunk["choices"][number]): TextCompletionChunk => ({
        ...header,
        choices: [choice],
      });
      return (async function* () {
        const usages: TokenUsage[] = [];
        // Returned whenever the reader stops, even before its first delta: that is what ends
        // the backend call and frees its slot.
        let events: AsyncIterator<GenerationEvent> = firstStream;
        try {
          for (const [position, call] of calls.entries()) {
            if (position > 0) {
              events = backend.streamGenerate(call.request, signal)[Symbol.asyncIterator]();
            }
            let result = position === 0 ? firstEvent : await events.next();
            const { index, prefix } = call;
            if (prefix !== "") {
              yield chunk({ text: prefix, index, logprobs: null, finish_reason: null });
            }
            // Where the next delta starts in the choice's text, for text_offset.
            let offset = prefix.length;
            while (!result.done) {
              const event = result.value;
              if (event.type === "done") {
                usages.push(event.generation.usage);
                const finishReason = completionFinishReason(event.generation.finishReason);
                yield chunk({ text: "", index, logprobs: null, finish_reason: finishReason });
              } else if (event.type === "text.delta") {
                const logprobs =
                  topLogprobs === null
                    ? null
                    : completionLogprobsOf(event.logprobs ?? [], topLogprobs, offset);
                offset += event.text.length;
                yield chunk({ text: event.text, index, logprobs, finish_reason: null });
              }
              result = await events.next();
            }
          }
          if (includeUsage) {
            yield { ...header, choices: [], usage: completionUsage(calls, usages) };
          }
        } finally {
          await events.return?.();
        }
      })();
    },
  };
}

export type CompletionsService = ReturnType<typeof createCompletionsService>;

function assertSupported(request: CreateCompletionRequest): void {
  if (
    request.stream_options !== undefined &&
    request.stream_options !== null &&
    request.stream !== true
  ) {
    throw ApiError.invalid(
      "stream_options",
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
    );
  }
  if (request.suffix !== undefined && request.suffix !== null && request.suffix !== "") {
    throw ApiError.invalid(
      "suffix",
      "ferry does not support 'suffix' (text insertion); leave it out and put the text you want continued in 'prompt'.",
    );
  }
  const n = request.n ?? 1;
  if (request.best_of !== undefined && request.best_of !== null && request.best_of !== n) {
    throw ApiError.invalid(
      "best_of",
      request.best_of < n
        ? `'best_of' (${request.best_of}) must be greater than or equal to 'n' (${n}).`
        : `ferry does not support 'best_of' greater than 'n' (it has no ranking to choose the best completions by); leave 'best_of' out or set it to 'n' (${n}).`,
    );
  }
  if (request.echo === true && request.logprobs !== undefined && request.logprobs !== null) {
    throw ApiError.invalid(
      "logprobs",
      "ferry does not support 'logprobs' together with 'echo': that asks for the prompt's tokens to be scored, which its backends do not return. Drop one of the two.",
    );
  }
}

/** The prompts as text: token ids are decoded with o200k_base (see the module comment). */
function promptTexts(prompt: CreateCompletionRequest["prompt"]): string[] {
  if (typeof prompt === "string") {
    return [prompt];
  }
  if (prompt.every((entry) => typeof entry === "string")) {
    return prompt as string[];
  }
  if (prompt.every((entry) => typeof entry === "number")) {
    return [decodePrompt(prompt as number[])];
  }
  return (prompt as number[][]).map(decodePrompt);
}

function decodePrompt(tokens: readonly number[]): string {
  try {
    return decodeTokens(tokens);
  } catch {
    const unknown = tokens.find((token) => {
      try {
        decodeTokens([token]);
        return false;
      } catch {
        return true;
      }
    });
    throw ApiError.invalid(
      "prompt",
      `The prompt's token id ${unknown ?? "(unknown)"} is not in the o200k_base vocabulary ferry decodes token prompts with; send the prompt as text instead.`,
    );
  }
}

/** The logprobs of a generation's text, in order. */
function textLogprobs(generation: Generation): TokenLogprob[] {
  const logprobs: TokenLogprob[] = [];
  for (const item of generation.items) {
    if (item.type === "message") {
      for (const part of item.parts) {
        if (part.type === "text") {
          logprobs.push(...(part.logprobs ?? []));
        }
      }
    }
  }
  return logprobs;
}

function completionFinishReason(reason: FinishReason): CompletionFinishReason {
  // No tools are ever sent with a completion, so a backend cannot stop to call one.
  return reason === "tool_calls" ? "stop" : reason;
}

/** Each prompt is counted once (its choices share it); completions add up across all choices. */
function completionUsage(
  calls: readonly ChoiceCall[],
  usages: readonly TokenUsage[],
): CompletionUsage {
  let promptTokens = 0;
  let completionTokens = 0;
  const countedPrompts = new Set<number>();
  for (const [position, usage] of usages.entries()) {
    const call = calls[position];
    if (call !== undefined && !countedPrompts.has(call.promptIndex)) {
      countedPrompts.add(call.promptIndex);
      promptTokens += usage.inputTokens;
    }
    completionTokens += usage.outputTokens;
  }
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}
