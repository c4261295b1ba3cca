/**
 * The context a request is handled with: its path at once, its parsed URL only when a handler
 * asks for it (a job's stream and a submit never do, and parsing is a few per cent of each).
 *
 * @module
 */

import type { RouteHandler } from "../router.ts";
import type { RequestContext, RouteContext } from "./middleware.ts";

// A URL whose path is of these characters: that path is the same before and after URL parsing
// (no dot segments, no percent-encoding, no backslashes). Any other is taken from the parsed URL.
const PLAIN_PATH = /^[^:/?#]+:\/\/[^/?#\\]*(\/[A-Za-z0-9_\-\/]*)(?:[?#]|$)/;

/**
 * The path of `url` as `new URL(url).pathname` gives it.
 *
 * @example
 * ```ts
 * import { pathOf } from "./request_context.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(pathOf("http://127.0.0.1:8000/progress/abc?x=1"), "/progress/abc");
 * assert.equal(pathOf("http://x/a/../b"), "/b");
 * assert.equal(pathOf("http://x"), "/");
 * assert.equal(pathOf("http://x\\a/b"), "/a/b", "a backslash is a slash in a web URL");
 * ```
 */
export function pathOf(url: string): string {
  return PLAIN_PATH.exec(url)?.[1] ?? new URL(url).pathname;
}

/**
 * A request's context, its URL parsed on first use.
 *
 * @example
 * ```ts
 * import { Context } from "./request_context.ts";
 * import assert from "node:assert/strict";
 *
 * const ctx = new Context(new Request("http://x/api/jobs?limit=2"));
 * assert.equal(ctx.path, "/api/jobs");
 * assert.equal(ctx.url.searchParams.get("limit"), "2");
 * ```
 */
export class Context implements RequestContext, RouteContext {
  /** The request. */
  readonly request: Request;
  /** Its URL's path. */
  readonly path: string;
  /** The matched route's handler, set by the routing middleware. */
  handler?: RouteHandler<RouteContext>;
  /** The matched route's parameters. */
  params: Record<string, string> = {};
  #url: URL | undefined;

  /** Creates the context of `request`. */
  constructor(request: Request) {
    this.request = request;
    this.path = pathOf(request.url);
  }

  /** The request's parsed URL. */
  get url(): URL {
    return this.#url ??= new URL(this.request.url);
  }
}
