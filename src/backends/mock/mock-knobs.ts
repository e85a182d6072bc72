import { BackendError } from "../backend.js";
import type { ToolCallKnob } from "./tool-rule.js";

/**
 * Per-request test knobs, read from request metadata so any client can set them:
 * `mock_delay_ms` waits before answering, `mock_error` makes the backend answer that HTTP status,
 * `mock_tool_call` names a tool to call ("none": no calls), `mock_refusal` makes the answer a
 * refusal with its text ("true": OpenAI's usual one) and `mock_reasoning: "true"` adds a
 * reasoning item without a reasoning effort.
 */
export interface MockKnobs {
  readonly delayMs: number;
  readonly errorStatus: number | null;
  readonly toolCall: ToolCallKnob;
  readonly refusal: string | null;
  readonly reasoning: boolean;
}

const DEFAULT_REFUSAL = "I'm sorry, but I can't help with that.";

const MAX_DELAY_MS = 600_000;

export function readMockKnobs(metadata: Readonly<Record<string, string>>): MockKnobs {
  return {
    delayMs: readDelay(metadata.mock_delay_ms),
    errorStatus: readErrorStatus(metadata.mock_error),
    toolCall: readToolCall(metadata.mock_tool_call),
    refusal: readRefusal(metadata.mock_refusal),
    reasoning: readReasoning(metadata.mock_reasoning),
  };
}

function readToolCall(raw: string | undefined): ToolCallKnob {
  if (raw === undefined || raw === "") {
    return null;
  }
  return raw === "none" ? { kind: "forbid" } : { kind: "force", name: raw };
}

function readRefusal(raw: string | undefined): string | null {
  if (raw === undefined || raw.trim() === "") {
    return null;
  }
  return raw === "true" ? DEFAULT_REFUSAL : raw;
}

function readReasoning(raw: string | undefined): boolean {
  if (raw === undefined || raw === "false") {
    return false;
  }
  if (raw !== "true") {
    throw invalidKnob("metadata.mock_reasoning", `must be 'true' or 'false', got '${raw}'`);
  }
  return true;
}

function readDelay(raw: string | undefined): number {
  if (raw === undefined) {
    return 0;
  }
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value > MAX_DELAY_MS) {
    throw invalidKnob(
      "metadata.mock_delay_ms",
      `must be a whole number of milliseconds from 0 to ${MAX_DELAY_MS}, got '${raw}'`,
    );
  }
  return value;
}

function readErrorStatus(raw: string | undefined): number | null {
  if (raw === undefined) {
    return null;
  }
  const value = Number(raw);
  if (!/^\d{3}$/.test(raw.trim()) || value < 400 || value > 599) {
    throw invalidKnob(
      "metadata.mock_error",
      `must be an HTTP error status from 400 to 599, got '${raw}'`,
    );
  }
  return value;
}

function invalidKnob(param: string, message: string): BackendError {
  return new BackendError(`Invalid '${param}': ${message}.`, {
    status: 400,
    retryable: false,
    param,
  });
}

/** The error the mock answers when `mock_error` asks for one, shaped like OpenAI's. */
export function mockErrorFor(status: number): BackendError {
  if (status === 429) {
    return new BackendError("Rate limit reached (simulated by metadata.mock_error).", {
      status,
      code: "rate_limit_exceeded",
      retryAfterMs: 100,
    });
  }
  if (status >= 500) {
    return new BackendError(
      `The backend had an error while processing your request (simulated HTTP ${status} from metadata.mock_error).`,
      { status },
    );
  }
  return new BackendError(
    `The backend rejected the request (simulated HTTP ${status} from metadata.mock_error).`,
    {
      status,
    },
  );
}
