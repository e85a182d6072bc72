import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { REPO_ROOT } from "./paths.js";
import { fixed, formatTable } from "./report.js";

/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and ranks functions by self time, which
 * is where a server's CPU actually goes. Only the fields we use are typed.
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  /** Microseconds since the previous sample; timeDeltas[i] belongs to samples[i]. */
  readonly timeDeltas: readonly number[];
}

export interface SelfTimeRow {
  readonly fn: string;
  readonly location: string;
  readonly selfMs: number;
  /** Self time as a share of all sampled time (idle included). */
  readonly percent: number;
  /** Time with this function anywhere on the stack: about what removing the call would save. */
  readonly totalMs: number;
}

/**
 * The main thread's profile among those in `dir`: node writes one per thread (a loader or worker
 * thread gets its own), and the main thread's, which saw the load, is the largest.
 */
export async function findMainProfile(dir: string): Promise<string | null> {
  const files = (await readdir(dir).catch(() => []))
    .filter((name) => name.endsWith(".cpuprofile"))
    .map((name) => path.join(dir, name));
  let largest: { file: string; bytes: number } | null = null;
  for (const file of files) {
    const { size } = await stat(file);
    if (largest === null || size > largest.bytes) {
      largest = { file, bytes: size };
    }
  }
  return largest?.file ?? null;
}

export async function rankSelfTime(profileFile: string, top = 25): Promise<SelfTimeRow[]> {
  const profile = JSON.parse(await readFile(profileFile, "utf8")) as CpuProfile;
  // Same function from different call sites is one row: we want "what is expensive".
  const keyById = new Map(profile.nodes.map((node) => [node.id, frameKey(node.callFrame)]));
  const parentById = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parentById.set(child, node.id);
    }
  }
  const selfMicros = new Map<string, number>();
  const totalMicros = new Map<string, number>();
  let allMicros = 0;
  profile.samples.forEach((nodeId, index) => {
    const micros = profile.timeDeltas[index] ?? 0;
    const key = keyById.get(nodeId);
    if (key === undefined) {
      return;
    }
    selfMicros.set(key, (selfMicros.get(key) ?? 0) + micros);
    allMicros += micros;
    // Count each function once per sample, however often it recurses.
    const onStack = new Set<string>();
    for (let id: number | undefined = nodeId; id !== undefined; id = parentById.get(id)) {
      const stackKey = keyById.get(id);
      if (stackKey !== undefined) {
        onStack.add(stackKey);
      }
    }
    for (const stackKey of onStack) {
      totalMicros.set(stackKey, (totalMicros.get(stackKey) ?? 0) + micros);
    }
  });
  return [...selfMicros.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, micros]) => {
      const [fn = "", location = ""] = key.split(KEY_SEPARATOR);
      return {
        fn,
        location,
        selfMs: micros / 1000,
        percent: (100 * micros) / Math.max(allMicros, 1),
        totalMs: (totalMicros.get(key) ?? 0) / 1000,
      };
    });
}

const KEY_SEPARATOR = "\u0000";

function frameKey(frame: CallFrame): string {
  const name = frame.functionName || "(anonymous)";
  return `${name}${KEY_SEPARATOR}${shortenUrl(frame.url)}:${frame.lineNumber + 1}`;
}

function shortenUrl(url: string): string {
  if (url === "") {
    return "(native)";
  }
  const file = url.startsWith("file://") ? url.slice("file://".length) : url;
  const nodeModules = file.lastIndexOf("/node_modules/");
  if (nodeModules >= 0) {
    return file.slice(nodeModules + "/node_modules/".length);
  }
  return file.startsWith(REPO_ROOT) ? path.relative(REPO_ROOT, file) : file;
}

/**
 * Prints the top self-time functions of the main-thread profile in `profileDir` (a server run
 * with `--cpu-prof --cpu-prof-dir=<profileDir>` and stopped, so that it wrote the file).
 */
export async function printProfile(profileDir: string, label = "ferry"): Promise<void> {
  const file = await findMainProfile(profileDir);
  if (file === null) {
    console.log(`no .cpuprofile found in ${profileDir}`);
    return;
  }
  const rows = await rankSelfTime(file);
  console.log(`\n${label} top self time (${path.relative(process.cwd(), file)}):`);
  console.log(
    formatTable(
      ["function", "self ms", "self %", "total ms", "location"],
      rows.map((r) => [
        r.fn,
        fixed(r.selfMs, 0),
        fixed(r.percent, 1),
        fixed(r.totalMs, 0),
        r.location,
      ]),
    ),
  );
}
