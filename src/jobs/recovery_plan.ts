/**
 * What start-up recovery does with a job a previous process left unfinished: queue it again,
 * resume it from what its log says was finished, or fail it with a reason.
 *
 * @module
 */

import { interruptedStreams, type StreamKey } from "../core/unfinished_text.ts";
import type { JobEvent, JobRecord } from "../core/job.ts";
import { restoreFromLog } from "./log_checkpoint.ts";

/** The decision for one unfinished job. */
export type RecoveryPlan =
  | { action: "requeue" }
  | { action: "resume"; voidStreams: StreamKey[] }
  | { action: "fail"; reason: string };

/**
 * Decides what happens to `record`. A queued job is queued again. A running one is first brought
 * up to date with `log`, its whole event log (see `restoreFromLog`); it resumes unless the process
 * died under it `maxResumes` times already (it may be the cause) or its saved progress does not
 * fit together. A resumed job's `voidStreams` are the text streams the dead run left half-written.
 *
 * @example
 * ```ts
 * import { planRecovery } from "./recovery_plan.ts";
 * import type { JobRecord } from "../core/job.ts";
 * import assert from "node:assert/strict";
 *
 * const running = (resumes: number): JobRecord => ({
 *   id: "a", topic: "tea", status: "running", progress: 0, step: null, provider: "offline",
 *   model: null, createdAt: 0, lastEventId: 1, resumes,
 * });
 * const log = [{ id: 1, type: "delta" as const, data: { step: "outline", text: "sec" } }];
 * assert.deepEqual(planRecovery(running(0), log, 3), {
 *   action: "resume",
 *   voidStreams: [{ step: "outline" }],
 * });
 * assert.equal(planRecovery(running(3), log, 3).action, "fail");
 * ```
 */
export function planRecovery(
  record: JobRecord,
  log: readonly JobEvent[],
  maxResumes: number,
): RecoveryPlan {
  if (record.status !== "running") return { action: "requeue" };
  restoreFromLog(record, log);
  const resumes = record.resumes ?? 0;
  if (resumes >= maxResumes) {
    return {
      action: "fail",
      reason: `The service stopped ${
        resumes + 1
      } times while running this job; it was not tried again`,
    };
  }
  const { sections, contents } = record.checkpoint ?? {};
  if (contents && (!sections || contents.length !== sections.length)) {
    return {
      action: "fail",
      reason: "The service restarted and the job's saved progress does not fit together",
    };
  }
  return { action: "resume", voidStreams: interruptedStreams(log) };
}
