/**
 * Percentiles of a sample, nearest-rank.
 *
 * @module
 */

/**
 * The `p`-th percentile (0..100) of `values` by nearest rank; `NaN` for an empty sample.
 * `values` is sorted in place.
 *
 * @example
 * ```ts
 * import { percentile } from "./percentile.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
 * assert.equal(percentile([5, 1, 3, 2, 4], 99), 5);
 * ```
 */
export function percentile(values: number[] | Float64Array, p: number): number {
  if (values.length === 0) return NaN;
  values.sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * values.length));
  return values[Math.min(values.length, rank) - 1] as number;
}
