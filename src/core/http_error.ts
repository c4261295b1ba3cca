/**
 * The one error type the HTTP layer turns into a JSON response.
 *
 * @module
 */

/** An error with an HTTP status, a stable machine-readable code and optional headers. */
export class HttpError extends Error {
  /** HTTP status code, 4xx or 5xx. */
  readonly status: number;
  /** Stable code for clients, such as `not_found`. */
  readonly code: string;
  /** Extra response headers, such as `Allow` or `Retry-After`. */
  readonly headers: Record<string, string>;

  /**
   * @example
   * ```ts
   * import { HttpError } from "./http_error.ts";
   * import assert from "node:assert/strict";
   *
   * const error = new HttpError(404, "not_found", "Job not found: x");
   * assert.equal(error.status, 404);
   * ```
   */
  constructor(
    status: number,
    code: string,
    message: string,
    options: { headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.headers = options.headers ?? {};
  }
}
