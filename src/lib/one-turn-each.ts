import { yieldToEventLoop } from "./yield-to-event-loop.js";

/**
 * Starts `start(item)` for every item, concurrently, but each in its own turn of the event
 * loop: a request with many choices (chat `n: 128`, a legacy prompt array) then computes one
 * mock answer per turn instead of all of them in one stretch that holds every other request.
 * Each start waits for the previous one's turn, since immediates queued together run together.
 */
export function startOneTurnEach<T, R>(
  items: readonly T[],
  start: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  let turn: Promise<void> = Promise.resolve();
  return Promise.all(
    items.map((item, index) => {
      const myTurn = index === 0 ? turn : turn.then(yieldToEventLoop);
      turn = myTurn;
      return myTurn.then(() => start(item, index));
    }),
  );
}
