/**
 * Epoch milliseconds as an ISO 8601 UTC timestamp, the same string as `Date#toISOString`, at a
 * fraction of its cost: V8's formatter takes ~1.5 µs a call, and a job writes ten or more
 * timestamps (its steps' starts and ends, its snapshot, its log lines).
 *
 * @module
 */

import { flatText } from "./flat_text.ts";

const DAY_MS = 86_400_000;
// Years 0000-9999: beyond them `toISOString` writes a six-digit, signed year.
const LAST_MS = 253_402_300_800_000;

let cachedDay = NaN;
let cachedPrefix = "";

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/**
 * The ISO 8601 form of `ms` (epoch milliseconds, UTC), as `new Date(ms).toISOString()` writes it.
 * The date part is formatted once per day and kept; the time of day by arithmetic. Throws a
 * `RangeError` for a time that is not a valid date, as `toISOString` does.
 *
 * @example
 * ```ts
 * import { isoTime } from "./iso_time.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isoTime(0), "1970-01-01T00:00:00.000Z");
 * assert.equal(isoTime(1_764_547_200_123.9), "2025-12-01T00:00:00.123Z");
 * assert.throws(() => isoTime(NaN), RangeError);
 * ```
 */
export function isoTime(ms: number): string {
  if (!(ms >= 0 && ms < LAST_MS)) return new Date(ms).toISOString();
  const day = ms - (ms % DAY_MS);
  if (day !== cachedDay) {
    cachedPrefix = new Date(day).toISOString().slice(0, 11);
    cachedDay = day;
  }
  let rest = Math.floor(ms - day);
  const milli = rest % 1000;
  rest = (rest - milli) / 1000;
  const seconds = rest % 60;
  rest = (rest - seconds) / 60;
  const minutes = rest % 60;
  const hours = (rest - minutes) / 60;
  const millis = milli < 10 ? `00${milli}` : milli < 100 ? `0${milli}` : `${milli}`;
  // Built from pieces, the text would be kept as a tree of them by every record that holds it.
  return flatText(`${cachedPrefix}${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${millis}Z`);
}
