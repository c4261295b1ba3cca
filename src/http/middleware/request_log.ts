/**
 * Counts and logs every request with its status and time, whatever answered it.
 *
 * @module
 */

import type { Logger } from "../../core/logger.ts";
import type { Metrics } from "../metrics.ts";
import type { Middleware } from "./middleware.ts";

/** Logs each request (`debug`, or `error` for a 5xx) and counts it in `metrics`. */
export function requestLog(logger: Logger, metrics: Metrics): Middleware {
  return async ({ request, path }, next) => {
    const started = performance.now();
    const response = await next();
    metrics.httpRequests++;
    logger.log(response.status >= 500 ? "error" : "debug", "request", {
      method: request.method,
      path,
      status: response.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
    return response;
  };
}
