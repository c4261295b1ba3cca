/**
 * A short, human-readable description of any thrown value, for logs and error messages.
 *
 * @module
 */

/**
 * A short human-readable description of any thrown value. A `RetryError` is described by its
 * last attempt's error, which says what went wrong (the count of attempts is logged apart).
 *
 * @example
 * ```ts
 * import { describeError } from "./describe_error.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(describeError(new TypeError("bad port")), "bad port");
 * assert.equal(describeError("plain"), "plain");
 * ```
 */
export function describeError(error: unknown): string {
  // Matched by name, not class: retry.ts imports this module, not the other way round.
  if (error instanceof Error && error.name === "RetryError" && error.cause !== undefined) {
    return describeError(error.cause);
  }
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
