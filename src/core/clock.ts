/**
 * Time as a seam, so tests can move it.
 *
 * @module
 */

/** A source of wall-clock time in epoch milliseconds. */
export interface Clock {
  /** Current time in ms since the epoch. */
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };
