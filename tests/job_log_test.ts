import assert from "node:assert/strict";
import type { JobEvent, JobRecord } from "../src/core/job.ts";
import { JobLog } from "../src/jobs/job_log.ts";
import { StatusCounts } from "../src/jobs/status_counts.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";

function newRecord(): JobRecord {
  return {
    id: "j",
    topic: "t",
    status: "queued",
    progress: 0,
    step: null,
    provider: "fake",
    model: null,
    createdAt: 0,
    lastEventId: 0,
  };
}

/** A store whose writes fail once `failing` is set. */
class FailingStore extends MemoryJobStore {
  failing = false;
  puts = 0;
  override put(job: JobRecord): Promise<void> {
    this.puts++;
    return this.failing ? Promise.reject(new Error("disk full")) : super.put(job);
  }
  override append(jobId: string, event: JobEvent): Promise<void> {
    return this.failing ? Promise.reject(new Error("disk full")) : super.append(jobId, event);
  }
}

Deno.test("JobLog writes a job's events in order and keeps its record in step", async (t) => {
  await t.step("create writes the record and event 1; ids go on from there", async () => {
    const store = new FailingStore();
    const log = new JobLog(newRecord(), { store });
    await log.create();
    log.append("progress", { step: "outline", progress: 33 });
    log.append("delta", { step: "content", index: 0, text: "x" });
    await log.lastWrite;
    assert.deepEqual((await store.events("j", 0, 10)).map((e) => [e.id, e.type]), [
      [1, "status"],
      [2, "progress"],
      [3, "delta"],
    ]);
    assert.equal(log.record.progress, 33);
    assert.equal(log.record.lastEventId, 3);
    // create and progress write the record; text does not.
    assert.equal(store.puts, 2);
  });

  await t.step("after the end, only the end is written", async () => {
    const store = new MemoryJobStore();
    const counts = new StatusCounts();
    const log = new JobLog(newRecord(), { store, counts });
    counts.move(undefined, "queued");
    log.setStatus("cancelled");
    log.append("cancelled", {});
    log.append("delta", { step: "style", text: "late" });
    await log.lastWrite;
    assert.deepEqual((await store.events("j", 0, 10)).map((e) => e.type), ["cancelled"]);
    assert.deepEqual(counts.toJSON(), { queued: 0, cancelled: 1 });
  });

  await t.step("a failed write marks it unsaved once; stopWhenUnsaved seals it", async () => {
    const store = new FailingStore();
    let told = 0;
    const log = new JobLog(newRecord(), {
      store,
      stopWhenUnsaved: true,
      onUnsaved: () => told++,
    });
    store.failing = true;
    log.append("progress", { step: "outline", progress: 33 });
    await log.lastWrite;
    assert.equal(log.unsaved, true);
    assert.equal(log.sealed, true);
    store.failing = false;
    log.append("progress", { step: "content", progress: 40 });
    await log.lastWrite;
    assert.deepEqual(await store.events("j", 0, 10), [], "a sealed log writes nothing more");
    assert.equal(told, 1);
  });

  await t.step("without stopWhenUnsaved it goes on writing", async () => {
    const store = new FailingStore();
    const log = new JobLog(newRecord(), { store });
    store.failing = true;
    log.append("progress", { step: "outline", progress: 33 });
    await log.lastWrite;
    store.failing = false;
    log.append("progress", { step: "content", progress: 40 });
    await log.lastWrite;
    assert.equal(log.sealed, false);
    assert.deepEqual((await store.events("j", 0, 10)).map((e) => e.id), [2]);
  });
});
