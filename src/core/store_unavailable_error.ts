/**
 * The error a store raises when it cannot be reached or written, so callers answer `503` at once
 * instead of hanging or reporting an internal error.
 *
 * @module
 */

/** Options of a {@linkcode StoreUnavailableError}. */
export interface StoreUnavailableErrorOptions extends ErrorOptions {
  /** What is wrong with the store, after its name. Default `is unreachable`. */
  problem?: string;
}

/**
 * Thrown when the job store is unreachable (Redis) or cannot be written (a full disk); `cause`
 * holds the underlying error.
 *
 * @example
 * ```ts
 * import { StoreUnavailableError } from "./store_unavailable_error.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new StoreUnavailableError("Redis", { cause: new Error("ECONNREFUSED") });
 * assert.match(error.message, /Redis is unreachable: ECONNREFUSED/);
 * const full = new StoreUnavailableError("The job store", {
 *   problem: "cannot be written",
 *   cause: new Error("database or disk is full"),
 * });
 * assert.equal(full.message, "The job store cannot be written: database or disk is full");
 * ```
 */
export class StoreUnavailableError extends Error {
  /** Creates the error for the store named `what`. */
  constructor(what: string, options: StoreUnavailableErrorOptions = {}) {
    const { problem = "is unreachable", ...errorOptions } = options;
    const detail = options.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(`${what} ${problem}${detail}`, errorOptions);
    this.name = "StoreUnavailableError";
  }
}
