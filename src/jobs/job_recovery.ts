/**
 * Takes up what a previous process left in a durable store: queued jobs are queued again,
 * running ones go on from their checkpoint (or fail when that is impossible, see
 * `recovery_plan.ts`), finished ones come back under the retention rules.
 *
 * @module
 */

import { FINISHED_STATUSES, type JobRecord } from "../core/job.ts";
import type { JobStore } from "../core/job_store.ts";
import type { JobLog } from "./job_log.ts";
import { planRecovery } from "./recovery_plan.ts";

/** What {@linkcode recoverJobs} found in the store. */
export interface RecoveryReport {
  /** Queued jobs queued again. */
  requeued: number;
  /** Running jobs queued again, to go on from their last finished step. */
  resumed: number;
  /** Unfinished jobs that could not go on and were marked failed. */
  failed: number;
  /** Finished jobs kept from before, now under the retention rules again. */
  finished: number;
}

/** What {@linkcode recoverJobs} works with. */
export interface RecoveryDeps {
  /** The store a previous process left jobs in. */
  store: JobStore;
  /** Finished jobs kept at most. */
  maxRetained: number;
  /** A job interrupted this many times fails instead of running again. */
  maxResumes: number;
  /** Whether job `id` is already known here (it is then left alone). */
  isKnown: (id: string) => boolean;
  /** Keeps finished job `record` under the retention rules. */
  keepFinished: (record: JobRecord) => void;
  /** The writer of job `record`'s log, counted as a job of this process. */
  logOf: (record: JobRecord) => JobLog;
  /** Ends job `log.record` as failed, with `message`. */
  fail: (log: JobLog, message: string) => void;
  /** Writes a `reset` delta for text the dead run left half-written. */
  voidText: (log: JobLog, step: NonNullable<JobRecord["step"]>, index: number | undefined) => void;
  /** Puts job `record` back in the line, beyond the bound if need be. */
  requeue: (record: JobRecord) => void;
}

/** More events than any job logs: a recovering job's log is read whole. */
const WHOLE_LOG = 1_000_000;

/**
 * Takes up the jobs in `deps.store`; their event ids go on from the stored log, so streams
 * resume with `Last-Event-ID` across restarts.
 */
export async function recoverJobs(deps: RecoveryDeps): Promise<RecoveryReport> {
  const report: RecoveryReport = { requeued: 0, resumed: 0, failed: 0, finished: 0 };
  const { store } = deps;
  const unfinished = await store.unfinished();
  const kept = await store.list(deps.maxRetained + unfinished.length);
  for (const record of kept.reverse()) {
    if (!FINISHED_STATUSES.has(record.status) || deps.isKnown(record.id)) continue;
    deps.keepFinished(record);
    report.finished++;
  }
  for (const record of unfinished) {
    if (deps.isKnown(record.id)) continue;
    const wasRunning = record.status === "running";
    // The record may be behind its log (see `restoreFromLog`); what was streamed is in the log.
    const log = wasRunning ? await store.events(record.id, 0, WHOLE_LOG) : [];
    const plan = planRecovery(record, log, deps.maxResumes);
    const writer = deps.logOf(record);
    if (plan.action === "fail") {
      deps.fail(writer, plan.reason);
      report.failed++;
      continue;
    }
    if (plan.action === "resume") {
      // A graceful stop is not the job's fault; only crashes count towards `maxResumes`.
      if (!record.suspended) record.resumes = (record.resumes ?? 0) + 1;
      delete record.suspended;
      // Clients drop the text the dead run left half-written; the next run streams it anew.
      for (const { step, index } of plan.voidStreams) deps.voidText(writer, step, index);
      writer.setStatus("queued");
      report.resumed++;
    } else {
      report.requeued++;
    }
    writer.append("status", {
      status: "queued",
      progress: record.progress,
      resumed: true,
      reason: wasRunning
        ? "The service restarted while the job ran; it goes on from its last finished step"
        : "The service restarted; the job is queued again",
    });
    deps.requeue(record);
  }
  return report;
}
