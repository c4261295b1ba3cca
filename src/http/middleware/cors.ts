/**
 * CORS: the allowed origins' headers on every response, errors included (see
 * `access_control.ts` for the rules).
 *
 * @module
 */

import type { AccessControl } from "../access_control.ts";
import type { Middleware } from "./middleware.ts";

/** Adds the CORS headers `access` grants to whatever the inner layers answer. */
export function cors(access: AccessControl): Middleware {
  return async ({ request }, next) => {
    const response = await next();
    access.applyCors(request, response);
    return response;
  };
}
