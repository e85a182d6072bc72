/**
 * Time as the services see it. Wire timestamps are unix **seconds** (OpenAI's convention);
 * internal deadlines and leases use milliseconds. Tests inject a fake clock.
 */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

export function unixSeconds(clock: Clock): number {
  return Math.floor(clock.nowMs() / 1000);
}
