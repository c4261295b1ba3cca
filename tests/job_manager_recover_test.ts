import assert from "node:assert/strict";
import { jobRecord } from "../testing/job_records.ts";
import type { JobEvent, JobRecord } from "../src/core/job.ts";
import { JobManager } from "../src/jobs/job_manager.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";
import type { LlmCallOptions, LlmClient, LlmRequest } from "../src/llm/llm_client.ts";
import { OfflineWriter } from "../src/llm/offline_writer.ts";

/** The offline writer, counting calls by purpose. */
class CountingWriter implements LlmClient {
  readonly provider = "offline";
  readonly model = null;
  readonly calls: string[] = [];
  readonly #inner = new OfflineWriter();
  complete(request: LlmRequest, options?: LlmCallOptions): Promise<string> {
    this.calls.push(request.purpose);
    return this.#inner.complete(request, options);
  }
}

async function waitFinished(manager: JobManager, id: string): Promise<JobRecord> {
  for (let i = 0; i < 500; i++) {
    const job = await manager.get(id);
    if (job && ["completed", "failed", "cancelled"].includes(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`job ${id} did not finish`);
}

Deno.test("JobManager.recover() takes up unfinished jobs without paying twice", async (t) => {
  const store = new MemoryJobStore();
  const sections = ["What tea is", "Why tea matters", "Getting started with tea"];
  // Running, outline and the first section done, then the process died after event 4.
  await store.put(jobRecord("running", {
    status: "running",
    progress: 44,
    step: "content",
    sections,
    startedAt: 2,
    lastEventId: 4,
    checkpoint: { sections, contents: ["Tea is a drink.", null, null] },
  }));
  for (let id = 1; id <= 4; id++) {
    await store.append("running", { id, type: id < 3 ? "status" : "progress", data: {} });
  }
  await store.put(jobRecord("queued", { createdAt: 3, lastEventId: 1 }));
  await store.append("queued", { id: 1, type: "status", data: { status: "queued" } });
  await store.put(jobRecord("looping", { status: "running", resumes: 3, lastEventId: 2 }));
  for (const id of [1, 2]) await store.append("looping", { id, type: "status", data: {} });
  await store.put(jobRecord("done", { status: "completed", progress: 100, finishedAt: 5 }));

  const llm = new CountingWriter();
  const manager = new JobManager({ store, llm, maxConcurrentJobs: 1 });
  try {
    const report = await manager.recover();
    assert.deepEqual(report, { requeued: 1, resumed: 1, failed: 1, finished: 1 });

    await t.step("a running job goes on from its checkpoint", async () => {
      const done = await waitFinished(manager, "running");
      assert.equal(done.status, "completed");
      assert.match(done.article ?? "", /Tea is a drink\./);
      assert.equal(done.resumes, 1);
      const log: JobEvent[] = await store.events("running", 0, 1_000);
      assert.deepEqual(log.map((e) => e.id), log.map((_, i) => i + 1), "ids go on without gaps");
      const resumed = log[4];
      assert.equal(resumed?.type, "status");
      assert.equal(resumed?.data.resumed, true);
      assert.equal(resumed?.data.progress, 44);
      assert.equal(log.at(-1)?.type, "complete");
    });
    await t.step("a queued job starts again", async () => {
      const done = await waitFinished(manager, "queued");
      assert.equal(done.status, "completed");
    });
    await t.step("only the missing work was paid for", () => {
      // running: 2 sections + style; queued: outline + 3 sections + style.
      assert.equal(llm.calls.filter((c) => c === "outline").length, 1);
      assert.equal(llm.calls.filter((c) => c === "section").length, 5);
      assert.equal(llm.calls.filter((c) => c === "style").length, 2);
    });
    await t.step("a job the process kept dying under is failed with a reason", async () => {
      const failed = await manager.get("looping");
      assert.equal(failed?.status, "failed");
      assert.match(failed?.error ?? "", /stopped 4 times/);
      const log = await store.events("looping", 2, 10);
      assert.deepEqual(log.map((e) => [e.id, e.type]), [[3, "error"]]);
    });
    await t.step("finished jobs count in the stats again", () => {
      assert.equal(manager.stats().jobsByStatus.completed, 3);
      assert.equal(manager.stats().jobsByStatus.failed, 1);
    });
  } finally {
    await manager.close();
  }
});

Deno.test("JobManager.recover() goes on from the log when the record is behind it", async () => {
  // The durable store writes a running job's record only when its status changes: this one was
  // written as it started, then the outline, one section and half of another were streamed.
  const store = new MemoryJobStore();
  const sections = ["What tea is", "Why tea matters", "Getting started with tea"];
  await store.put(jobRecord("behind", { status: "running", startedAt: 2, lastEventId: 2 }));
  const log: JobEvent["data"][] = [
    { status: "queued", progress: 0 },
    { status: "running", progress: 0 },
    { step: "outline", text: "sections: ..." },
    { step: "outline", progress: 33, sections },
    { step: "content", index: 0, text: "Tea is " },
    { step: "content", index: 1, text: "Tea matters because" },
    { step: "content", index: 0, text: "a drink. " },
    { step: "content", progress: 44, section: sections[0], index: 0, completed: 1, total: 3 },
  ];
  const types: JobEvent["type"][] = [
    "status",
    "status",
    "delta",
    "progress",
    "delta",
    "delta",
    "delta",
    "progress",
  ];
  for (const [i, data] of log.entries()) {
    await store.append("behind", { id: i + 1, type: types[i] as JobEvent["type"], data });
  }
  const llm = new CountingWriter();
  const manager = new JobManager({ store, llm, maxConcurrentJobs: 1 });
  try {
    assert.deepEqual(await manager.recover(), { requeued: 0, resumed: 1, failed: 0, finished: 0 });
    const done = await waitFinished(manager, "behind");
    assert.equal(done.status, "completed");
    assert.match(done.article ?? "", /Tea is a drink\./);
    assert.deepEqual(done.sections, sections);
    assert.deepEqual(llm.calls, ["section", "section", "style"], "outline and section 1 kept");
    const after = await store.events("behind", 8, 2);
    assert.deepEqual(after.map((e) => [e.id, e.type, e.data]), [
      [9, "delta", { step: "content", index: 1, text: "", reset: true }],
      [10, "status", {
        status: "queued",
        progress: 44,
        resumed: true,
        reason: "The service restarted while the job ran; it goes on from its last finished step",
      }],
    ]);
  } finally {
    await manager.close();
  }
});
