/**
 * A small router: static paths in a Map, a `URLPattern` only where a path has parameters, and
 * the known methods of a path drive `405` with `Allow`.
 *
 * @module
 */

/** A route handler: the request and the path's named parameters. */
export type RouteHandler<C> = (
  request: Request,
  params: Record<string, string>,
  context: C,
) => Promise<Response> | Response;

/** What {@linkcode Router.match} found. */
export type RouteMatch<C> =
  | { kind: "found"; handler: RouteHandler<C>; params: Record<string, string> }
  | { kind: "method"; allow: string[] }
  | { kind: "none" };

interface ParamRoute<C> {
  pattern: URLPattern;
  /** The path up to its first parameter: a cheap test before the costlier `exec`. */
  prefix: string;
  methods: Map<string, RouteHandler<C>>;
}

/**
 * Maps method and path to a handler.
 *
 * @example
 * ```ts
 * import { Router } from "./router.ts";
 * import assert from "node:assert/strict";
 *
 * const router = new Router<void>().add("GET", "/jobs/:id", () => new Response());
 * const match = router.match("DELETE", "/jobs/1");
 * assert.deepEqual(match, { kind: "method", allow: ["GET", "HEAD"] });
 * ```
 */
export class Router<C> {
  readonly #static = new Map<string, Map<string, RouteHandler<C>>>();
  readonly #dynamic: ParamRoute<C>[] = [];

  /** Adds a route; `path` may hold `:name` parameters. Returns the router for chaining. */
  add(method: string, path: string, handler: RouteHandler<C>): this {
    let methods: Map<string, RouteHandler<C>>;
    if (path.includes(":")) {
      let route = this.#dynamic.find((r) => r.pattern.pathname === path);
      if (!route) {
        this.#dynamic.push(
          route = {
            pattern: new URLPattern({ pathname: path }),
            prefix: /^[^*(){}?+\\]*$/.test(path.slice(0, path.indexOf(":")))
              ? path.slice(0, path.indexOf(":"))
              : "",
            methods: new Map(),
          },
        );
      }
      methods = route.methods;
    } else {
      methods = this.#static.get(path) ?? new Map();
      this.#static.set(path, methods);
    }
    methods.set(method, handler);
    if (method === "GET" && !methods.has("HEAD")) methods.set("HEAD", handler);
    return this;
  }

  /** Finds the handler for `method` on `pathname`. */
  match(method: string, pathname: string): RouteMatch<C> {
    let methods = this.#static.get(pathname);
    let params: Record<string, string> = {};
    if (!methods) {
      for (const route of this.#dynamic) {
        if (!pathname.startsWith(route.prefix)) continue;
        const result = route.pattern.exec({ pathname });
        if (result) {
          methods = route.methods;
          params = Object.fromEntries(
            Object.entries(result.pathname.groups).filter((e): e is [string, string] =>
              e[1] !== undefined
            ),
          );
          break;
        }
      }
    }
    if (!methods) return { kind: "none" };
    const handler = methods.get(method);
    if (!handler) return { kind: "method", allow: [...methods.keys()] };
    return { kind: "found", handler, params };
  }
}
