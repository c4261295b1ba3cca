/**
 * The error a shared store raises when it cannot be reached, so callers answer `503` at once
 * instead of hanging or reporting an internal error.
 *
 * @module
 */

/**
 * Thrown when the job store (Redis) is unreachable; `cause` holds the client's error.
 *
 * @example
 * ```ts
 * import { StoreUnavailableError } from "./store_unavailable_error.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new StoreUnavailableError("Redis", { cause: new Error("ECONNREFUSED") });
 * assert.match(error.message, /Redis is unreachable/);
 * ```
 */
export class StoreUnavailableError extends Error {
  /** Creates the error for the store named `what`. */
  constructor(what: string, options?: ErrorOptions) {
    const detail = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(`${what} is unreachable${detail}`, options);
    this.name = "StoreUnavailableError";
  }
}
