import type { LaneShares } from "../store/work-items.js";

/**
 * Weighted fair shares of one backend's claims between lanes: start-time fair queueing over
 * claimed items. Each lane has a virtual time that a claimed item advances by 1/weight; every slot
 * goes to the lane with ready work whose virtual time is lowest, ties to the higher-priority lane
 * (the lower number). So with lanes of weights 4 and 2 both backlogged, claims go 2:1, and with
 * one slot freed at a time the sequence is 0,2,0,0,2,0,… rather than "lane 0 until it is empty".
 *
 * Invariants:
 * - Work-conserving: a lane with nothing ready takes no slot; its share goes to the others.
 * - No banked credit: a lane that was idle (or ran dry: had fewer ready rows than its share)
 *   forgets its virtual time and comes back level with the lowest of the busy lanes, so a lane
 *   cannot sit out a flood and then claim everything for as long as it had been waiting.
 * - No starvation: a backlogged lane of weight w gets at least w / (sum of the weights) of the
 *   claims while it stays backlogged, however much higher-priority work is queued.
 * Shares are of claimed items (throughput), not of slot-time: a lane of slow items holds its slots
 * longer. The state is this process's own, per backend; another node keeps its own.
 */
export function createLaneShares(weights: ReadonlyMap<number, number>): LaneShares {
  const virtualTime = new Map<number, number>();
  const weightOf = (lane: number) => weights.get(lane) ?? 1;

  return {
    share(lanes, slots) {
      for (const lane of [...virtualTime.keys()]) {
        if (!lanes.includes(lane)) {
          virtualTime.delete(lane);
        }
      }
      let floor = Number.POSITIVE_INFINITY;
      for (const time of virtualTime.values()) {
        floor = Math.min(floor, time);
      }
      for (const lane of lanes) {
        if (!virtualTime.has(lane)) {
          virtualTime.set(lane, Number.isFinite(floor) ? floor : 0);
        }
      }
      const shares = new Map<number, number>();
      for (let slot = 0; slot < slots; slot++) {
        let chosen: number | undefined;
        let chosenTime = Number.POSITIVE_INFINITY;
        for (const lane of lanes) {
          const time = virtualTime.get(lane) ?? 0;
          if (time < chosenTime) {
            // strictly less: on a tie the earlier lane in priority order keeps the slot
            chosen = lane;
            chosenTime = time;
          }
        }
        if (chosen === undefined) {
          break;
        }
        virtualTime.set(chosen, chosenTime + 1 / weightOf(chosen));
        shares.set(chosen, (shares.get(chosen) ?? 0) + 1);
      }
      // Only differences matter: keep the numbers small.
      let lowest = Number.POSITIVE_INFINITY;
      for (const time of virtualTime.values()) {
        lowest = Math.min(lowest, time);
      }
      if (Number.isFinite(lowest) && lowest > 0) {
        for (const [lane, time] of virtualTime) {
          virtualTime.set(lane, time - lowest);
        }
      }
      return shares;
    },
    shortfall(lane) {
      virtualTime.delete(lane);
    },
  };
}
