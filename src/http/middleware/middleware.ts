/**
 * The shape of the HTTP layer's parts: a request's context, a middleware `(ctx, next)` in the
 * manner of hono, and {@linkcode compose}, which nests them around the innermost handler.
 *
 * @module
 */

import type { RouteHandler } from "../router.ts";

/** What a request carries through the middleware. */
export interface RequestContext {
  /** The request. */
  readonly request: Request;
  /** Its URL's path, as `url.pathname` gives it. */
  readonly path: string;
  /** Its parsed URL. */
  readonly url: URL;
  /** The matched route's handler, set by the routing middleware. */
  handler?: RouteHandler<RouteContext>;
  /** The matched route's parameters, such as `{ id }`. */
  params: Record<string, string>;
}

/** What a route handler receives besides the request and parameters. */
export interface RouteContext {
  /** The request's parsed URL. */
  readonly url: URL;
}

/** One cross-cutting concern: does its part and calls `next` for the rest, or answers itself. */
export type Middleware = (ctx: RequestContext, next: () => Promise<Response>) => Promise<Response>;

/**
 * Nests `middleware` around `last`, the first outermost.
 *
 * @example
 * ```ts
 * import { compose, type Middleware } from "./middleware.ts";
 * import assert from "node:assert/strict";
 *
 * const seen: string[] = [];
 * const note = (name: string): Middleware => async (_ctx, next) => {
 *   seen.push(name);
 *   return await next();
 * };
 * const handle = compose([note("a"), note("b")], () => Promise.resolve(new Response("ok")));
 * const request = new Request("http://localhost/");
 * await handle({ request, path: "/", url: new URL(request.url), params: {} });
 * assert.deepEqual(seen, ["a", "b"]);
 * ```
 */
export function compose(
  middleware: readonly Middleware[],
  last: (ctx: RequestContext) => Promise<Response>,
): (ctx: RequestContext) => Promise<Response> {
  return middleware.reduceRight<(ctx: RequestContext) => Promise<Response>>(
    (next, layer) => (ctx) => layer(ctx, () => next(ctx)),
    last,
  );
}
