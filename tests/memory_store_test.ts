/** The default single-process store is untouched by the shared-store work. */

import assert from "node:assert/strict";
import { collectEvents } from "../testing/sse_client.ts";
import { Instance } from "../testing/redis_cluster.ts";

Deno.test("memory store (the default): jobs run in the process, FIFO, and cancel", async (t) => {
  const instance = await Instance.start("memory", [
    "--offline-delay-ms",
    "50",
    "--max-concurrent-jobs",
    "1",
  ]);
  const submit = async (topic: string) => {
    const response = await fetch(`${instance.url}/api/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic }),
    });
    assert.equal(response.status, 202);
    return (await response.json()).id as string;
  };
  const events = (id: string) => collectEvents(`${instance.url}/api/jobs/${id}/events`);
  try {
    await t.step("a job streams queued, running, …, complete with ids 1, 2, 3, …", async () => {
      const log = await events(await submit("kites"));
      assert.deepEqual(log.map((e) => Number(e.id)), log.map((_, i) => i + 1));
      assert.deepEqual(log.slice(0, 2).map((e) => JSON.parse(e.data).status), [
        "queued",
        "running",
      ]);
      assert.equal(log.at(-1)?.event, "complete");
    });
    await t.step("a waiting job is cancelled without running", async () => {
      const first = await submit("first");
      const second = await submit("second");
      const response = await fetch(`${instance.url}/api/jobs/${second}`, { method: "DELETE" });
      assert.equal((await response.json()).status, "cancelled");
      assert.deepEqual((await events(second)).map((e) => e.event), ["status", "cancelled"]);
      assert.equal((await events(first)).at(-1)?.event, "complete");
    });
    await t.step("/healthz is ok without a shared store", async () => {
      const response = await fetch(`${instance.url}/healthz`);
      assert.deepEqual(await response.json(), { status: "ok" });
    });
  } finally {
    await instance.kill();
  }
});
