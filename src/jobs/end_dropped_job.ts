/**
 * The end written for a job its queue gave up on (BullMQ failed it for good), so the job's
 * clients are not left waiting for an end that no run will write.
 *
 * @module
 */

import { FINISHED_STATUSES } from "../core/job.ts";
import type { JobStore } from "../core/job_store.ts";

/** Ends the log of a job the queue gave up on, so its clients are not left waiting. */
export async function endDroppedJob(store: JobStore, id: string, reason: string): Promise<void> {
  const record = await store.get(id);
  if (!record || FINISHED_STATUSES.has(record.status)) return;
  const message = `The job could not be run to its end: ${reason}`;
  const event = { id: record.lastEventId + 1, type: "error" as const, data: { message } };
  Object.assign(record, {
    status: "failed",
    error: message,
    finishedAt: Date.now(),
    lastEventId: event.id,
  });
  await store.append(id, event);
  await store.put(record);
}
