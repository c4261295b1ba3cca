/**
 * `API_TOKEN`: a request must carry the bearer token (or, for a job's event stream, the job's
 * own stream token); see `access_control.ts`.
 *
 * @module
 */

import type { AccessControl } from "../access_control.ts";
import type { Middleware } from "./middleware.ts";

/** Refuses a request `access` does not authorize (`401`); runs after routing, for `:id`. */
export function auth(access: AccessControl): Middleware {
  return async ({ request, url, params }, next) => {
    await access.authorize(request, url, params.id);
    return await next();
  };
}
