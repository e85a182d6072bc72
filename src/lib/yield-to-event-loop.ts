/**
 * Lets every pending I/O callback and timer run before going on: a long computation that awaits
 * this between slices shares the event loop instead of stalling every other request.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
