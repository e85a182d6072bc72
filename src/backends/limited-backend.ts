import type { Clock } from "../lib/clock.js";
import type { LimitSample } from "./adaptive-limit.js";
import { type Backend, type BackendCallOptions, BackendError, isOverloadError } from "./backend.js";
import type { Limiter, Slot } from "./limiter.js";

/**
 * Wraps a backend so that every call holds one of its limiter's slots for its whole duration,
 * streams included (the slot is released when the stream ends, fails or is abandoned): the slot
 * given in the call's options when it still has it (the executor's, taken at claim), else one
 * acquired at that slot's priority, or at interactive priority for a call with none. Each call's
 * latency and outcome feed the limiter's adaptive limit: a whole answer's time for `generate` and
 * `embed`, the time to the first event for a stream (an upstream's queueing shows there, while
 * the rest depends on how long the answer is).
 */
export function limitBackend(backend: Backend, limiter: Limiter, clock: Clock): Backend {
  async function hold(signal: AbortSignal, options: BackendCallOptions | undefined) {
    const given = options?.slot;
    const slot: Slot =
      given?.adopt() === true
        ? given
        : await limiter.acquire(given?.priority ?? "interactive", signal);
    return { slot, startedAtMs: clock.nowMs(), inFlight: limiter.inFlight() };
  }

  function record(
    call: { startedAtMs: number; inFlight: number },
    signal: AbortSignal,
    thrown?: unknown,
  ) {
    const sample: LimitSample = {
      startedAtMs: call.startedAtMs,
      latencyMs: clock.nowMs() - call.startedAtMs,
      inFlight: call.inFlight,
      outcome: outcomeOf(signal, thrown),
    };
    limiter.record(sample);
  }

  /** A whole-answer call in its slot, its latency (to the answer) and outcome recorded. */
  async function inSlot<T>(
    signal: AbortSignal,
    options: BackendCallOptions | undefined,
    run: () => Promise<T>,
  ): Promise<T> {
    const call = await hold(signal, options);
    try {
      const answer = await run();
      record(call, signal);
      return answer;
    } catch (thrown) {
      record(call, signal, thrown);
      throw thrown;
    } finally {
      call.slot.release();
    }
  }

  return {
    name: backend.name,
    ...(backend.native === undefined ? {} : { native: backend.native }),
    generate(request, signal, options) {
      return inSlot(signal, options, () => backend.generate(request, signal));
    },
    async *streamGenerate(request, signal, options) {
      const call = await hold(signal, options);
      let isFirst = true;
      try {
        for await (const event of backend.streamGenerate(request, signal)) {
          if (isFirst) {
            isFirst = false;
            record(call, signal);
          }
          yield event;
        }
      } catch (thrown) {
        if (isFirst) {
          isFirst = false;
          record(call, signal, thrown);
        }
        throw thrown;
      } finally {
        call.slot.release();
      }
    },
    embed(request, signal, options) {
      return inSlot(signal, options, () => backend.embed(request, signal));
    },
  };
}

/**
 * What a call says about the upstream's load: an overload answer, or an answer (a client error is
 * an answer too: its latency counts); a call the caller gave up on, or one that timed out (its
 * latency is the timeout's, not the upstream's), says nothing.
 */
function outcomeOf(signal: AbortSignal, thrown: unknown): LimitSample["outcome"] {
  if (thrown === undefined) {
    return "ok";
  }
  if (signal.aborted || !(thrown instanceof BackendError)) {
    return "ignored";
  }
  if (isOverloadError(thrown)) {
    return "overload";
  }
  return thrown.status === null ? "ignored" : "ok";
}
