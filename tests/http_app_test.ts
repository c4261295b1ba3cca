import assert from "node:assert/strict";
import { createHandler } from "../src/http/app.ts";
import { AccessControl } from "../src/http/access_control.ts";
import { Metrics } from "../src/http/metrics.ts";
import { errors } from "../src/http/middleware/errors.ts";
import { compose, type RouteContext } from "../src/http/middleware/middleware.ts";
import { Router } from "../src/http/router.ts";
import { addJobRoutes } from "../src/http/routes/jobs.ts";
import { JobManager } from "../src/jobs/job_manager.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";
import { FakeLlm } from "../testing/fake_llm.ts";

Deno.test("the handler answers new Request() without a server", async (t) => {
  const llm = new FakeLlm();
  llm.hold = true;
  const manager = new JobManager({ store: new MemoryJobStore(), llm });
  const handler = createHandler({
    manager,
    metrics: new Metrics(),
    corsOrigins: ["https://app.example"],
  });

  await t.step(
    "an unknown path is a JSON 404, with CORS headers for an allowed origin",
    async () => {
      const response = await handler(
        new Request("http://x/nowhere", { headers: { origin: "https://app.example" } }),
      );
      assert.equal(response.status, 404);
      assert.equal((await response.json()).error.code, "not_found");
      assert.equal(response.headers.get("access-control-allow-origin"), "https://app.example");
    },
  );

  await t.step("another method is a 405 with Allow", async () => {
    const response = await handler(new Request("http://x/api/jobs", { method: "PUT" }));
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "POST, GET, HEAD");
    await response.body?.cancel();
  });

  await t.step("submit, read and cancel a job", async () => {
    const submitted = await handler(
      new Request("http://x/api/jobs", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "tea" }),
      }),
    );
    assert.equal(submitted.status, 202);
    const { id } = await submitted.json();
    const read = await handler(new Request(`http://x/api/jobs/${id}`));
    assert.equal((await read.json()).topic, "tea");
    const cancelled = await handler(new Request(`http://x/api/jobs/${id}`, { method: "DELETE" }));
    assert.equal((await cancelled.json()).status, "cancelled");
  });

  llm.release();
  await manager.close();
});

Deno.test("a route module stands alone: the jobs routes on their own router", async () => {
  const manager = new JobManager({ store: new MemoryJobStore(), llm: new FakeLlm() });
  const router = new Router<RouteContext>();
  addJobRoutes(router, {
    manager,
    access: new AccessControl(undefined, []),
    maxBodyBytes: 1_024,
  });
  const app = compose([errors()], async ({ request, url }) => {
    const match = router.match(request.method, url.pathname);
    assert.equal(match.kind, "found");
    if (match.kind !== "found") throw new Error("unreachable");
    return await match.handler(request, match.params, { url });
  });
  const request = new Request("http://x/api/jobs?limit=0");
  const response = await app({ request, path: "/api/jobs", url: new URL(request.url), params: {} });
  assert.equal(response.status, 400);
  assert.equal((await response.json()).error.code, "invalid_limit");
  await manager.close();
});
