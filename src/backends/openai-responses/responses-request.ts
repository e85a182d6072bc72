import type { GenerateRequest } from "../model-contract.js";
import { responsesBodyFromContract } from "./contract-to-responses.js";

/** What ferry asks for beyond the client's `include`: see responsesRequestBody. */
export const ENCRYPTED_REASONING = "reasoning.encrypted_content";

/**
 * The body of `POST /responses`: the client's own body, every field and item type as it sent
 * them (built-in tools, encrypted reasoning, `include`, `metadata` with the mock's `mock_*`
 * knobs: none of it is ferry's to judge), or for a request from another surface one written from
 * the contract (responsesBodyFromContract). Changed only where ferry, not the upstream, does the
 * work:
 * - `model`: the upstream's name for it (the router resolved the public name and its alias).
 * - `stream`: per call; `stream_options` only goes with a stream (OpenAI rejects it otherwise).
 * - `background: false`: ferry runs background work itself; the call must end with the answer.
 * - `store: false`, and no `previous_response_id` / `conversation`: ferry stores the
 *   conversation, and the body's `input` already holds the history behind them (the surface put
 *   it there). The upstream could not resolve ferry's ids anyway.
 * - `include` gains "reasoning.encrypted_content", always. With store: false the upstream keeps
 *   no reasoning, so a reasoning item can only go back to it next turn (from ferry's stored
 *   history) with its encrypted content; OpenAI rejects a replayed reasoning item without it.
 *   Always, not only when the body has `reasoning`: o-series and gpt-5 models reason unasked,
 *   and nothing in a body says which models do. It is one of the `include` values in OpenAI's
 *   spec, and adds nothing to an answer without reasoning.
 */
export function responsesRequestBody(
  request: GenerateRequest,
  isStream: boolean,
): Record<string, unknown> {
  // A Chat Completions call (or a chat batch line) has no Responses body: it is written from
  // the contract.
  const body = request.responsesBody ?? responsesBodyFromContract(request);
  const { previous_response_id, conversation, stream_options, ...kept } = body;
  const include = Array.isArray(kept.include) ? kept.include : [];
  return {
    ...kept,
    model: request.model,
    stream: isStream,
    ...(isStream && stream_options !== undefined ? { stream_options } : {}),
    background: false,
    store: false,
    include: include.includes(ENCRYPTED_REASONING) ? include : [...include, ENCRYPTED_REASONING],
  };
}
