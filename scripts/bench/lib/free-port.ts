import { createServer } from "node:net";

/**
 * Asks the OS for a port that is free right now. A child server is then told to listen on it;
 * the tiny race (someone else grabbing it in between) is acceptable for a local benchmark, and
 * it lets us know the URL before the child prints anything.
 */
export function findFreePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}
