import type {
  GenerateRequest,
  Generation,
  GenerationEvent,
  TokenUsage,
} from "../backends/backend.js";
import type { Router } from "../backends/router.js";
import type { CreateChatCompletionRequest } from "../contract/chat-request.js";
import type { RetryPolicy } from "../executor/retry.js";
import { type Clock, unixSeconds } from "../lib/clock.js";
import { newId } from "../lib/ids.js";
import { startOneTurnEach } from "../lib/one-turn-each.js";
import { chatMessagesToModel } from "../translate/chat-messages-to-model.js";
import { chatModelOptions, usesLegacyFunctions } from "../translate/chat-request-to-model.js";
import type { CallOptions } from "./call-options.js";
import {
  type ChatChoiceMessage,
  type ChatChunkDelta,
  type ChatFinishReason,
  type ChatLogprobs,
  type ChatOutputOptions,
  chatFinishReason,
  chatLogprobsOf,
  chatMessageOf,
  chatTokenLogprob,
  createChatDeltaMapper,
  openingDelta,
} from "./chat-output.js";
import { assertChatRequestUsable } from "./chat-request-rules.js";
import { assertFitsContext } from "./context-limit.js";
import { type FileContentReader, resolveFileParts } from "./file-parts.js";
import { resolveModel } from "./models.js";
import { withRetries } from "./with-retries.js";

/**
 * Chat Completions on any backend: `n` choices (each a distinct deterministic answer), usage
 * summed across choices, and the chunk sequence OpenAI streams.
 */

// ferry is one "system"; the fingerprint lets clients see which server answered.
const SYSTEM_FINGERPRINT = "fp_ferry";

export interface ChatCompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
}

export interface ChatCompletionObject {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: {
    index: number;
    message: ChatChoiceMessage;
    logprobs: ChatLogprobs | null;
    finish_reason: ChatFinishReason;
  }[];
  usage: ChatCompletionUsage;
  service_tier: string;
  system_fingerprint: string;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  service_tier: string;
  system_fingerprint: string;
  choices: {
    index: number;
    delta: ChatChunkDelta;
    logprobs: ChatLogprobs | null;
    finish_reason: ChatFinishReason | null;
  }[];
  usage?: ChatCompletionUsage | null;
}

export function createChatCompletionsService(deps: {
  router: Router;
  clock: Clock;
  retry: RetryPolicy;
  /** Reads the files a `file_id` part names (see file-parts.ts). */
  files: FileContentReader;
}) {
  async function prepare(projectId: string, request: CreateChatCompletionRequest) {
    assertChatRequestUsable(request);
    const resolved = resolveModel(deps.router, request.model);
    const messages = await resolveFileParts(chatMessagesToModel(request.messages), {
      projectId,
      files: deps.files,
      paramFor: (fileId) => chatFileParam(request.messages, fileId),
    });
    assertFitsContext(messages, resolved.contextTokens, "messages");
    const options = chatModelOptions(request);
    const base: GenerateRequest = {
      model: resolved.upstreamModel,
      messages,
      tools: options.tools,
      toolChoice: options.toolChoice,
      parallelToolCalls: options.parallelToolCalls,
      outputFormat: options.outputFormat,
      sampling: options.sampling,
      // max_tokens is the deprecated name of max_completion_tokens; the newer one wins.
      maxOutputTokens: request.max_completion_tokens ?? request.max_tokens ?? null,
      reasoningEffort: request.reasoning_effort ?? null,
      user: request.safety_identifier ?? request.user ?? null,
      metadata: request.metadata ?? {},
    };
    const output: ChatOutputOptions = { legacyFunctions: usesLegacyFunctions(request) };
    return {
      output,
      backend: resolved.backend,
      choiceRequests: Array.from({ length: request.n ?? 1 }, (_, index) => ({
        ...base,
        choiceIndex: index,
      })),
      header: {
        id: newId("chatCompletion"),
        created: unixSeconds(deps.clock),
        model: request.model,
        service_tier: serviceTier(request.service_tier),
        system_fingerprint: SYSTEM_FINGERPRINT,
      },
    };
  }

  return {
    /**
     * Runs every check complete() makes before its backend call (a bad request throws its 4xx
     * here) and names the backend that would answer: for work queued now and run later.
     */
    async backendFor(projectId: string, request: CreateChatCompletionRequest): Promise<string> {
      return (await prepare(projectId, request)).backend.name;
    },

    async complete(
      projectId: string,
      request: CreateChatCompletionRequest,
      signal: AbortSignal,
      options: CallOptions = {},
    ): Promise<ChatCompletionObject> {
      const { backend, choiceRequests, header, output } = await prepare(projectId, request);
      const retry = options.retry ?? deps.retry;
      const generations: Generation[] = await startOneTurnEach(choiceRequests, (choiceRequest) =>
        withRetries(() => backend.generate(choiceRequest, signal, options), retry, signal),
      );
      return {
        ...header,
        object: "chat.completion",
        choices: generations.map((generation, index) => ({
          index,
          message: chatMessageOf(generation, output),
          logprobs: chatLogprobsOf(generation, request.logprobs === true),
          finish_reason: chatFinishReason(generation.finishReason, output),
        })),
        usage: chatUsage(generations.map((generation) => generation.usage)),
      };
    },

    /**
     * Resolves once the first choice's backend stream has produced its first event, so an early
     * backend failure is an HTTP error rather than a broken stream. Choices stream one after
     * another, each opening with a role delta and closing with its finish_reason.
     */
    async stream(
      projectId: string,
      request: CreateChatCompletionRequest,
      signal: AbortSignal,
    ): Promise<AsyncIterable<ChatCompletionChunk>> {
      const { backend, choiceRequests, header, output } = await prepare(projectId, request);
      const includeUsage = request.stream_options?.include_usage === true;
      const wantsLogprobs = request.logprobs === true;
      const firstChoice = choiceRequests[0];
      if (firstChoice === undefined) {
        return (async function* () {})();
      }
      const { firstStream, firstEvent } = await withRetries(
        async () => {
          const iterator = backend.streamGenerate(firstChoice, signal)[Symbol.asyncIterator]();
          return { firstStream: iterator, firstEvent: await iterator.next() };
        },
        deps.retry,
        signal,
      );
      const chunk = (
        choices: ChatCompletionChunk["choices"],
        usage?: ChatCompletionUsage,
      ): ChatCompletionChunk => ({
        ...header,
        object: "chat.completion.chunk",
        choices,
        ...(includeUsage ? { usage: usage ?? null } : {}),
      });
      return (async function* () {
        const usages: TokenUsage[] = [];
        // Returned whenever the reader stops, even before its first delta: that is what ends
        // the backend call and frees its slot.
        let events: AsyncIterator<GenerationEvent> = firstStream;
        try {
          for (const [index, choiceRequest] of choiceRequests.entries()) {
            if (index > 0) {
              events = backend.streamGenerate(choiceRequest, signal)[Symbol.asyncIterator]();
            }
            let result = index === 0 ? firstEvent : await events.next();
            const toDelta = createChatDeltaMapper(output);
            let isOpen = false;
            while (!result.done) {
              const event = result.value;
              const mapped = event.type === "done" ? null : toDelta(event);
              if (!isOpen) {
                // The choice's first chunk carries the role (and a first call, if the answer
                // starts with one), sent once the first event shows what the answer begins with.
                isOpen = true;
                const opening = openingDelta(mapped?.delta ?? null);
                yield chunk([{ index, delta: opening.delta, logprobs: null, finish_reason: null }]);
                if (opening.tookFirst) {
                  result = await events.next();
                  continue;
                }
              }
              if (event.type === "done") {
                usages.push(event.generation.usage);
                yield chunk([
                  {
                    index,
                    delta: {},
                    logprobs: null,
                    finish_reason: chatFinishReason(event.generation.finishReason, output),
                  },
                ]);
              } else if (mapped !== null) {
                const logprobs =
                  wantsLogprobs && mapped.logprobs !== null
                    ? { content: mapped.logprobs.map(chatTokenLogprob), refusal: null }
                    : null;
                yield chunk([{ index, delta: mapped.delta, logprobs, finish_reason: null }]);
              }
              result = await events.next();
            }
          }
          if (includeUsage) {
            yield chunk([], chatUsage(usages));
          }
        } finally {
          await events.return?.();
        }
      })();
    },
  };
}

export type ChatCompletionsService = ReturnType<typeof createChatCompletionsService>;

/** The prompt is counted once (all choices share it); completions add up across choices. */
function chatUsage(usages: readonly TokenUsage[]): ChatCompletionUsage {
  const promptTokens = usages[0]?.inputTokens ?? 0;
  const completionTokens = usages.reduce((sum, usage) => sum + usage.outputTokens, 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: usages[0]?.cachedInputTokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: usages.reduce((sum, usage) => sum + usage.reasoningTokens, 0),
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/** Where a chat request names `fileId` (a `file` part's `file.file_id`), for the 400s. */
function chatFileParam(
  messages: CreateChatCompletionRequest["messages"],
  fileId: string,
): string | null {
  for (const [messageIndex, message] of messages.entries()) {
    if (!Array.isArray(message.content)) {
      continue;
    }
    const partIndex = message.content.findIndex(
      (part) =>
        part.type === "file" && (part as { file?: { file_id?: unknown } }).file?.file_id === fileId,
    );
    if (partIndex >= 0) {
      return `messages[${messageIndex}].content[${partIndex}].file.file_id`;
    }
  }
  return null;
}

function serviceTier(requested: string | null | undefined): string {
  return requested === undefined || requested === null || requested === "auto"
    ? "default"
    : requested;
}
