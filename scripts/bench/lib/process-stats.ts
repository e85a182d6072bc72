import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * What one process uses, read from Linux's /proc: resident memory and CPU time. The bench reads
 * the server's figures from outside, so measuring costs the server nothing.
 */

/** Kernel clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
let ticksPerSecond: number | null = null;

function readTicksPerSecond(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    } catch {
      ticksPerSecond = Number.NaN;
    }
    // USER_HZ is 100 on every Linux architecture node runs on.
    if (!Number.isFinite(ticksPerSecond) || ticksPerSecond <= 0) {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Bytes of `VmRSS` (`field = "VmRSS"`) or `VmHWM` (the peak RSS since the process started). */
export function readMemoryBytes(pid: number, field: "VmRSS" | "VmHWM" = "VmRSS"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (match?.[1] === undefined) {
    throw new Error(`no ${field} in /proc/${pid}/status`);
  }
  return Number(match[1]) * 1024;
}

/** User plus system CPU seconds the process has used since it started. */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 (utime) and 15 (stime) of proc(5); the slice starts at field 3.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / readTicksPerSecond();
}

/** The soft limit on open files of a process ("Max open files" in /proc/<pid>/limits). */
export function readOpenFileLimit(pid: number | "self" = "self"): number | null {
  const limits = readFileSync(`/proc/${pid}/limits`, "utf8");
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  if (match?.[1] === undefined) {
    return null;
  }
  return match[1] === "unlimited" ? Number.POSITIVE_INFINITY : Number(match[1]);
}

export interface RssSampler {
  /** The largest RSS sampled so far, in bytes. */
  peakBytes(): number;
  /** Stops sampling and returns the figures. */
  stop(): RssSummary;
}

export interface RssSummary {
  readonly samples: number;
  readonly firstBytes: number;
  readonly lastBytes: number;
  readonly peakBytes: number;
  /** The peak within each phase named by `phaseOf` (see startRssSampler); empty without it. */
  readonly peakBytesByPhase: Record<string, number>;
}

/**
 * Samples a process's RSS every `intervalMs`. A timer in the bench's event loop can run late while
 * the bench is busy, so a short spike may fall between samples; VmHWM (readMemoryBytes) holds
 * the true peak since the process started, and benches report the larger of the two.
 */
export function startRssSampler(
  pid: number,
  options: { intervalMs?: number; phaseOf?: () => string } = {},
): RssSampler {
  const first = readMemoryBytes(pid);
  let last = first;
  let peak = first;
  let samples = 1;
  let isStopped = false;
  const peakBytesByPhase: Record<string, number> = {};
  const sample = () => {
    try {
      last = readMemoryBytes(pid);
    } catch {
      return; // the process has exited: keep what was seen
    }
    peak = Math.max(peak, last);
    samples += 1;
    if (options.phaseOf !== undefined) {
      const phase = options.phaseOf();
      peakBytesByPhase[phase] = Math.max(peakBytesByPhase[phase] ?? 0, last);
    }
  };
  const timer = setInterval(sample, options.intervalMs ?? 100);
  return {
    peakBytes: () => peak,
    stop() {
      if (!isStopped) {
        isStopped = true;
        clearInterval(timer);
        sample();
      }
      return { samples, firstBytes: first, lastBytes: last, peakBytes: peak, peakBytesByPhase };
    },
  };
}

export function toMegabytes(bytes: number): number {
  return bytes / (1024 * 1024);
}
