/**
 * This process's environment, read the way every part of Quillflow reads it: a variable the
 * permission set does not grant reads as unset instead of throwing.
 *
 * @module
 */

/**
 * The value of environment variable `name`, or `undefined` when it is unset or not granted.
 *
 * @example
 * ```ts
 * import { processEnv } from "./process_env.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(processEnv("QUILLFLOW_SURELY_UNSET_VARIABLE"), undefined);
 * ```
 */
export function processEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // not granted: treated as unset
  }
}
