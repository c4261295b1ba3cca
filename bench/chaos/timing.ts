/**
 * Waiting on conditions and printing durations, for the fault scenarios.
 *
 * @module
 */

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Asks `check` every `everyMs` until it returns true (resolves true) or `deadline`
 * (a `performance.now()` time) passes (resolves false).
 */
export async function waitUntil(
  deadline: number,
  check: () => boolean | Promise<boolean>,
  everyMs = 100,
): Promise<boolean> {
  for (;;) {
    if (await check()) return true;
    if (performance.now() > deadline) return false;
    await sleep(everyMs);
  }
}

/**
 * `ms` as seconds with two decimals, or `-` when not finite.
 *
 * @example
 * ```ts
 * import { seconds } from "./timing.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(seconds(1234), "1.23 s");
 * ```
 */
export function seconds(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "-";
}

/** The median of `values`, NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] as number : ((sorted[mid - 1] as number) +
    (sorted[mid] as number)) / 2;
}
