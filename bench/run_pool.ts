/**
 * Runs `count` tasks with at most `concurrency` in flight, like a fixed set of clients each
 * starting its next request as soon as the last one ends.
 *
 * @module
 */

/**
 * Calls `task(i)` for i = 0..count-1, `concurrency` at a time; resolves with the results in
 * order. A task that throws is recorded as its error, not rethrown.
 *
 * @example
 * ```ts
 * import { runPool } from "./run_pool.ts";
 * import assert from "node:assert/strict";
 *
 * const results = await runPool(5, 2, (i) => Promise.resolve(i * 2));
 * assert.deepEqual(results, [0, 2, 4, 6, 8]);
 * ```
 */
export async function runPool<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<(T | Error)[]> {
  const results: (T | Error)[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        results[i] = await task(i);
      } catch (error) {
        results[i] = error instanceof Error ? error : new Error(String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
