/**
 * Finds the route of a request with the router: `404` for an unknown path, `405` with `Allow`
 * for a known path and another method. A CORS preflight is a question about a route: it is
 * answered here, granted only for a route that takes the method asked about.
 *
 * @module
 */

import { HttpError } from "../../core/http_error.ts";
import { type AccessControl, preflightMethod } from "../access_control.ts";
import type { Router } from "../router.ts";
import type { Middleware, RouteContext } from "./middleware.ts";

function check(
  match: ReturnType<Router<RouteContext>["match"]>,
  method: string,
  path: string,
): void {
  if (match.kind === "none") throw new HttpError(404, "not_found", `No route for ${path}`);
  if (match.kind === "method") {
    throw new HttpError(405, "method_not_allowed", `${method} is not allowed here`, {
      headers: { allow: match.allow.join(", ") },
    });
  }
}

/** Sets the context's handler and parameters from `router`, or answers a preflight. */
export function routing(router: Router<RouteContext>, access: AccessControl): Middleware {
  return async (ctx, next) => {
    const { request, path } = ctx;
    if (request.method === "OPTIONS" && access.isPreflight(request)) {
      const asked = preflightMethod(request);
      check(router.match(asked, path), JSON.stringify(asked), path);
      return access.preflight(request);
    }
    const match = router.match(request.method, path);
    check(match, request.method, path);
    if (match.kind === "found") {
      ctx.handler = match.handler;
      ctx.params = match.params;
    }
    return await next();
  };
}
