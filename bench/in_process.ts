/**
 * The workflow's own cost, with no HTTP: N zero-delay jobs through a `JobManager` with the offline
 * writer, 100 at a time, in this process; prints CPU time per job (`process.cpuUsage`) for each
 * store asked for, rounds alternating. What the service costs beyond this is HTTP and streams.
 *
 *     deno run --allow-read --allow-write --allow-env bench/in_process.ts \
 *       [--jobs 3000] [--store memory,sqlite] [--rounds 2]
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { FINISHED_STATUSES } from "../src/core/job.ts";
import { JobManager } from "../src/jobs/job_manager.ts";
import { type JobStore } from "../src/core/job_store.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";
import { OfflineWriter } from "../src/llm/offline_writer.ts";
import { SqliteJobStore } from "../src/store/sqlite_job_store.ts";

const IN_FLIGHT = 100;

/** Runs `jobs` jobs, `IN_FLIGHT` at a time, each submitted and followed to its end. */
async function runJobs(manager: JobManager, jobs: number): Promise<void> {
  let next = 0;
  const one = async (n: number) => {
    const { id } = await manager.submit(`benchmark topic ${n}`);
    for (;;) {
      const record = await manager.get(id);
      if (record && FINISHED_STATUSES.has(record.status)) {
        if (record.status !== "completed") throw new Error(`job ${id} ${record.status}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < jobs) await one(next++);
    }),
  );
}

/** CPU ms per job of `jobs` jobs on a fresh `store` (after 300 unmeasured ones). */
async function measure(kind: "memory" | "sqlite", jobs: number): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "quillflow-bench-" });
  const store: JobStore = kind === "memory"
    ? new MemoryJobStore()
    : SqliteJobStore.open(`${dir}/quillflow.db`);
  const manager = new JobManager({
    store,
    llm: new OfflineWriter({ delayMs: 0 }),
    maxConcurrentJobs: IN_FLIGHT,
    maxQueuedJobs: 100_000,
  });
  try {
    await runJobs(manager, 300);
    const before = process.cpuUsage();
    await runJobs(manager, jobs);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1_000 / jobs;
  } finally {
    await manager.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      jobs: { type: "string", default: "3000" },
      store: { type: "string", default: "memory,sqlite" },
      rounds: { type: "string", default: "2" },
    },
  });
  const stores = values.store.split(",").map((s) => s.trim());
  if (stores.some((s) => s !== "memory" && s !== "sqlite")) {
    throw new TypeError(`--store takes memory and/or sqlite: current value is ${values.store}`);
  }
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const store of stores as ("memory" | "sqlite")[]) {
      const ms = await measure(store, Number(values.jobs));
      console.log(`round ${round} ${store.padEnd(6)} ${ms.toFixed(3)} ms CPU per job`);
    }
  }
}
