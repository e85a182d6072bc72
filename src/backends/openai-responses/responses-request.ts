import { BackendError } from "../backend.js";
import type { GenerateRequest } from "../model-contract.js";

/** What ferry asks for beyond the client's `include`: see responsesRequestBody. */
export const ENCRYPTED_REASONING = "reasoning.encrypted_content";

/**
 * The body of `POST /responses`: the client's own body, every field and item type as it sent
 * them (built-in tools, encrypted reasoning, `include`, `metadata` with the mock's `mock_*`
 * knobs: none of it is ferry's to judge), changed only where ferry, not the upstream, does the
 * work:
 * - `model`: the upstream's name for it (the router resolved the public name and its alias).
 * - `stream`: per call; `stream_options` only goes with a stream (OpenAI rejects it otherwise).
 * - `background: false`: ferry runs background work itself, and the call must end with the answer.
 * - `store: false`, and no `previous_response_id` / `conversation`: ferry stores the conversation,
 *   and the body's `input` already holds the history behind them (the surface put it there).
 *   The upstream could not resolve ferry's ids anyway.
 * - `include` gains "reasoning.encrypted_content", always. With store: false the upstream keeps
 *   no reasoning, so the only way a reasoning item can go back to it next turn (from ferry's
 *   stored history) is with its encrypted content; without it OpenAI rejects the replayed item.
 *   Always, not only when the body has `reasoning`: o-series and gpt-5 models reason without
 *   being asked, and nothing in a body tells which models do. OpenAI and vLLM accept the value
 *   for any model (it is a listed `include` value and adds nothing when there is no reasoning).
 */
export function responsesRequestBody(
  request: GenerateRequest,
  isStream: boolean,
): Record<string, unknown> {
  const body = request.responsesBody;
  if (body === undefined) {
    // Only the Responses surface has a Responses body; a chat request routed to this backend
    // would need a translation this backend does not make.
    throw new BackendError(
      `Model '${request.model}' is served by a native Responses upstream; call it through ` +
        "POST /v1/responses.",
      { status: 400, param: "model", code: "unsupported_endpoint" },
    );
  }
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
