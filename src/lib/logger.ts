import { type Logger, pino } from "pino";

export type { Logger };
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

/** JSON lines on stdout (pino): cheap when a level is off, and easy to ship to any log store. */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: "ferry" } });
}

export function createSilentLogger(): Logger {
  return pino({ level: "silent" });
}
