import assert from "node:assert/strict";
import type { JobRecord } from "../src/core/job.ts";
import { ArticleRunner } from "../src/jobs/article_runner.ts";
import type { ShutdownPolicy } from "../src/jobs/job_dispatcher.ts";
import { StatusCounts } from "../src/jobs/status_counts.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";
import { FakeLlm } from "../testing/fake_llm.ts";

function queued(id: string): JobRecord {
  return {
    id,
    topic: "tea",
    status: "queued",
    progress: 0,
    step: null,
    provider: "fake",
    model: "fake-1",
    createdAt: 0,
    lastEventId: 1,
  };
}

function setUp(atShutdown: ShutdownPolicy = "cancel") {
  const store = new MemoryJobStore();
  const llm = new FakeLlm();
  const finished: string[] = [];
  const runner = new ArticleRunner({
    store,
    llm,
    policy: { atShutdown, stopWhenUnsaved: atShutdown === "release" },
    counts: new StatusCounts(),
    onFinished: (record) => finished.push(`${record.id}:${record.status}`),
    deltaFlushMs: 0,
    clock: { now: () => 1_000 },
  });
  return { store, llm, runner, finished };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 1));
}

Deno.test("ArticleRunner runs a job's workflow into its log", async (t) => {
  await t.step("a run writes running, the steps, the text and complete", async () => {
    const { store, runner, finished } = setUp();
    const record = queued("a");
    assert.equal(await runner.execute(record), "ended");
    const types = (await store.events("a", 0, 100)).map((e) => e.type);
    assert.equal(types[0], "status");
    assert.ok(types.includes("progress") && types.includes("delta"));
    assert.equal(types.at(-1), "complete");
    assert.equal(record.status, "completed");
    assert.equal(record.progress, 100);
    assert.deepEqual(finished, ["a:completed"]);
  });

  await t.step("cancelRun ends it with `cancelled` and aborts the LLM call", async () => {
    const { store, llm, runner } = setUp();
    llm.hold = true;
    const done = runner.execute(queued("b"));
    await until(() => llm.held > 0);
    assert.equal(runner.cancelRun("b", "no")?.status, "cancelled");
    assert.equal(await done, "ended");
    assert.equal(llm.aborted, 1);
    assert.equal((await store.events("b", 0, 100)).at(-1)?.type, "cancelled");
    assert.equal(runner.cancelRun("b", "again"), undefined);
  });

  for (const policy of ["release", "suspend", "cancel"] as const) {
    await t.step(`shutdown with policy ${policy}`, async () => {
      const { store, llm, runner } = setUp(policy);
      llm.hold = true;
      const record = queued("c");
      const done = runner.execute(record);
      await until(() => llm.held > 0);
      await runner.stopAll(policy, 0);
      const last = (await store.events("c", 0, 100)).at(-1)?.type;
      if (policy === "cancel") {
        assert.equal(await done, "ended");
        assert.equal(last, "cancelled");
      } else {
        assert.equal(await done, policy === "release" ? "released" : "ended");
        assert.equal(record.status, "running", "left unfinished, for another run");
        assert.notEqual(last, "cancelled");
        assert.equal(record.suspended, policy === "suspend" ? true : undefined);
      }
    });
  }

  await t.step("endWaiting writes the end of a job that never ran", async () => {
    const { store, llm, runner } = setUp();
    const record = await runner.endWaiting(queued("d"), "shut down");
    assert.equal(record.status, "cancelled");
    assert.deepEqual((await store.events("d", 0, 10)).map((e) => [e.id, e.type]), [
      [2, "cancelled"],
    ]);
    assert.deepEqual(llm.calls, []);
  });
});
