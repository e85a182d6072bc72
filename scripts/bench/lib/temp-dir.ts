import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

export interface TempDir {
  readonly path: string;
  /** Removes the directory and everything in it. Safe to call twice. */
  remove(): Promise<void>;
}

/**
 * A fresh directory under the OS temp dir, removed by `remove()` or, if the bench dies first
 * (an uncaught error, Ctrl-C), by a synchronous exit hook.
 */
export async function createTempDir(prefix: string): Promise<TempDir> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const removeNow = () => rmSync(dir, { recursive: true, force: true });
  process.once("exit", removeNow);
  return {
    path: dir,
    async remove() {
      process.off("exit", removeNow);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
