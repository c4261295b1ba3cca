/**
 * `deno bench` for routing one request: the router's segment matching against `URLPattern.exec`
 * on the same paths (what the router used before).
 *
 * Run: `deno bench bench/router_bench.ts`
 *
 * @module
 */

import { Router } from "../src/http/router.ts";

const ok = () => new Response();
const router = new Router<void>()
  .add("GET", "/", ok)
  .add("GET", "/static/:name", ok)
  .add("GET", "/api/jobs", ok)
  .add("DELETE", "/api/jobs/:id", ok)
  .add("GET", "/api/jobs/:id/events", ok)
  .add("GET", "/progress/:id", ok);
const patterns = ["/static/:name", "/api/jobs/:id", "/api/jobs/:id/events", "/progress/:id"].map(
  (pathname) => new URLPattern({ pathname }),
);
const path = "/progress/0198a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

Deno.bench("Router.match: a parameter route", { group: "route", baseline: true }, () => {
  router.match("GET", path);
});

Deno.bench("URLPattern.exec over the same routes", { group: "route" }, () => {
  for (const pattern of patterns) if (pattern.exec({ pathname: path })) break;
});
