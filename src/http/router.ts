/**
 * A small router: static paths in a Map, paths with `:name` segments matched segment by segment,
 * and the known methods of a path drive `405` with `Allow`.
 *
 * Not `URLPattern`: its `exec` took ~10 µs per request under load, the largest part of routing,
 * for patterns that are only literal segments and whole-segment parameters. A parameter matches
 * one non-empty segment as it stands in the URL (percent-encoded), as `URLPattern`'s `:name` does.
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
  /** The path as added, such as `/jobs/:id`. */
  path: string;
  /** Its segments after the leading `/`: a literal, or a parameter's name after `:`. */
  segments: string[];
  methods: Map<string, RouteHandler<C>>;
}

/** The named parameters of `pathname` under `segments`, or `undefined` when it does not match. */
function matchSegments(
  segments: readonly string[],
  pathname: string,
): Record<string, string> | undefined {
  const parts = pathname.split("/");
  // A path starts with "/", so parts[0] is "" and the segments follow.
  if (parts.length !== segments.length + 1 || parts[0] !== "") return undefined;
  let params: Record<string, string> | undefined;
  for (let i = 0; i < segments.length; i++) {
    const want = segments[i] as string;
    const got = parts[i + 1] as string;
    if (want.startsWith(":")) {
      if (got === "") return undefined;
      (params ??= {})[want.slice(1)] = got;
    } else if (want !== got) {
      return undefined;
    }
  }
  return params ?? {};
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
      if (!path.startsWith("/") || /[*(){}?+\\]/.test(path)) {
        throw new TypeError(
          `Cannot add route ${path}: only literal and ":name" segments are supported`,
        );
      }
      let route = this.#dynamic.find((r) => r.path === path);
      if (!route) {
        this.#dynamic.push(
          route = { path, segments: path.slice(1).split("/"), methods: new Map() },
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

  /** Every method and path added, `HEAD` included where `GET` added it. */
  routes(): { method: string; path: string }[] {
    return [
      ...[...this.#static].flatMap(([path, methods]) =>
        [...methods.keys()].map((method) => ({ method, path }))
      ),
      ...this.#dynamic.flatMap(({ path, methods }) =>
        [...methods.keys()].map((method) => ({ method, path }))
      ),
    ];
  }

  /** Finds the handler for `method` on `pathname`. */
  match(method: string, pathname: string): RouteMatch<C> {
    let methods = this.#static.get(pathname);
    let params: Record<string, string> = {};
    if (!methods) {
      for (const route of this.#dynamic) {
        const found = matchSegments(route.segments, pathname);
        if (found) {
          methods = route.methods;
          params = found;
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
