import assert from "node:assert/strict";
import { Router } from "../src/http/router.ts";

const ok = () => new Response("ok");

Deno.test("Router matches literal and :name segments, one whole segment per parameter", () => {
  const router = new Router<void>()
    .add("GET", "/api/jobs", ok)
    .add("GET", "/api/jobs/:id/events", ok)
    .add("DELETE", "/api/jobs/:id", ok)
    .add("GET", "/static/:name", ok);
  const params = (method: string, path: string) => {
    const match = router.match(method, path);
    return match.kind === "found" ? match.params : match.kind;
  };
  assert.deepEqual(params("GET", "/api/jobs"), {});
  assert.deepEqual(params("GET", "/api/jobs/abc/events"), { id: "abc" });
  assert.deepEqual(params("DELETE", "/api/jobs/abc"), { id: "abc" });
  // As in the URL: still percent-encoded.
  assert.deepEqual(params("GET", "/static/app%20x.js"), { name: "app%20x.js" });
  for (
    const path of [
      "/api/jobs//events",
      "/api/jobs/abc/events/",
      "/api/jobs/a/b/events",
      "/static/",
      "static/x",
      "/api/jobs/abc/event",
    ]
  ) {
    assert.equal(params("GET", path), "none", path);
  }
  assert.deepEqual(router.match("POST", "/api/jobs/abc"), { kind: "method", allow: ["DELETE"] });
  assert.deepEqual(router.match("PUT", "/api/jobs"), { kind: "method", allow: ["GET", "HEAD"] });
  assert.equal(params("HEAD", "/api/jobs/x/events") instanceof Object, true);
});

Deno.test("Router refuses patterns it does not support", () => {
  assert.throws(() => new Router<void>().add("GET", "/files/:path*", ok), TypeError);
  assert.throws(() => new Router<void>().add("GET", "jobs/:id", ok), TypeError);
});
