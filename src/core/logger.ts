/**
 * One-line JSON logs on stderr, filtered by level.
 *
 * @module
 */

import { isoTime } from "./iso_time.ts";

/** Log levels, quietest last. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;

/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Writes structured log lines. */
export interface Logger {
  /** Logs `msg` with `fields` at `level`. */
  log(level: Exclude<LogLevel, "silent">, msg: string, fields?: Record<string, unknown>): void;
}

/**
 * A logger writing JSON lines at or above `level` to `write` (stderr by default).
 *
 * @example
 * ```ts
 * import { createLogger } from "./logger.ts";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * createLogger("info", (line) => lines.push(line)).log("info", "started", { port: 1 });
 * assert.equal(JSON.parse(lines[0]!).port, 1);
 * ```
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => console.error(line),
): Logger {
  const min = LOG_LEVELS.indexOf(level);
  return {
    log(at, msg, fields = {}) {
      if (LOG_LEVELS.indexOf(at) < min) return;
      write(JSON.stringify({ time: isoTime(Date.now()), level: at, msg, ...fields }));
    },
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { log() {} };
