/** The memory store (`--store memory`) in a service process of its own. */

import assert from "node:assert/strict";
import { collectEvents } from "../testing/sse_client.ts";
import { Instance } from "../testing/redis_cluster.ts";

Deno.test("memory store: jobs run in the process, FIFO, cancel, and are gone after a restart", async (t) => {
  const args = ["--store", "memory", "--offline-delay-ms", "50", "--max-concurrent-jobs", "1"];
  let instance = await Instance.start("memory", args);
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
    await t.step("nothing is kept: after a restart the jobs are unknown", async () => {
      const id = await submit("forgotten");
      await events(id);
      await instance.kill();
      instance = await Instance.start("memory", args);
      const response = await fetch(`${instance.url}/api/jobs/${id}`);
      assert.equal(response.status, 404, "a job outlived the process: not the memory store");
      await response.body?.cancel();
      assert.deepEqual((await (await fetch(`${instance.url}/api/jobs`)).json()).jobs, []);
    });
  } finally {
    await instance.kill();
  }
});
