import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { RESULTS_DIR } from "./paths.js";

/** The machine a result came from: figures from different machines are not comparable. */
export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly platform: string;
  readonly totalMemoryGb: number;
  /** Other work on the machine at the start; a busy machine skews one target more than the other. */
  readonly loadAverage1m: number;
}

export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    loadAverage1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  };
}

export function formatMachine(machine: MachineInfo): string {
  return (
    `machine: ${machine.cpus} x ${machine.cpuModel}, ${machine.totalMemoryGb} GB, ` +
    `node ${machine.node}, ${machine.platform}, load average ${machine.loadAverage1m}`
  );
}

/** Right-aligns every column but the first; enough for a handful of rows on a terminal. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) =>
    Math.max(...all.map((row) => (row[column] ?? "").length)),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return column === 0 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join("  ");
  const rule = widths.map((width) => "-".repeat(width)).join("  ");
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** A target check, printed as `PASS  ratio 0.52 >= 0.35`. */
export interface Check {
  readonly label: string;
  readonly isPass: boolean;
}

export function formatChecks(checks: readonly Check[]): string {
  return checks.map((check) => `${check.isPass ? "PASS" : "FAIL"}  ${check.label}`).join("\n");
}

/** Writes `.bench/results/<name>.json` and returns its path. */
export async function writeResult(name: string, result: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

export function fixed(value: number, digits = 2): string {
  return value.toFixed(digits);
}
