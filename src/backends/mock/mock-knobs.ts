import { BackendError } from "../backend.js";

/**
 * Per-request test knobs, read from request metadata so any client can set them:
 * `mock_delay_ms` waits before answering, `mock_error` makes the backend answer that HTTP status.
 */
export interface MockKnobs {
  readonly delayMs: number;
  readonly errorStatus: number | null;
}

const MAX_DELAY_MS = 600_000;

export function readMockKnobs(metadata: Readonly<Record<string, string>>): MockKnobs {
  return {
    delayMs: readDelay(metadata.mock_delay_ms),
    errorStatus: readErrorStatus(metadata.mock_error),
  };
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
