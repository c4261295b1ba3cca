/**
 * The one place errors become responses: `{"error": {"code", "message"}}` with the status their
 * kind says; anything unexpected is logged and answered `500`.
 *
 * @module
 */

import { HttpError } from "../../core/http_error.ts";
import { type Logger, silentLogger } from "../../core/logger.ts";
import { StoreUnavailableError } from "../../core/store_unavailable_error.ts";
import { QueueFullError } from "../../jobs/admission.ts";
import { JobFinishedError, ShuttingDownError } from "../../jobs/job_errors.ts";
import { json } from "../json_response.ts";
import type { Middleware } from "./middleware.ts";

/**
 * The response for `error`.
 *
 * @example
 * ```ts
 * import { errorResponse } from "./errors.ts";
 * import { HttpError } from "../../core/http_error.ts";
 * import assert from "node:assert/strict";
 *
 * const response = errorResponse(new HttpError(404, "not_found", "Job not found"));
 * assert.equal(response.status, 404);
 * assert.deepEqual(await response.json(), { error: { code: "not_found", message: "Job not found" } });
 * ```
 */
export function errorResponse(error: unknown, logger: Logger = silentLogger): Response {
  if (error instanceof HttpError) {
    return json(
      { error: { code: error.code, message: error.message } },
      error.status,
      error.headers,
    );
  }
  if (error instanceof QueueFullError) {
    return json({ error: { code: "queue_full", message: error.message } }, 429, {
      "retry-after": String(error.retryAfterSeconds),
    });
  }
  if (error instanceof ShuttingDownError) {
    return json({ error: { code: "shutting_down", message: error.message } }, 503, {
      "retry-after": "5",
    });
  }
  if (error instanceof StoreUnavailableError) {
    return json({ error: { code: "store_unavailable", message: error.message } }, 503, {
      "retry-after": "5",
    });
  }
  if (error instanceof JobFinishedError) {
    return json({ error: { code: "job_finished", message: error.message } }, 409);
  }
  logger.log("error", "unhandled error", {
    error: error instanceof Error ? error.stack : String(error),
  });
  return json({ error: { code: "internal", message: "Internal server error" } }, 500);
}

/** Turns whatever the inner layers throw into its response. */
export function errors(logger: Logger = silentLogger): Middleware {
  return async (_ctx, next) => {
    try {
      return await next();
    } catch (error) {
      return errorResponse(error, logger);
    }
  };
}
