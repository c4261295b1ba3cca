/**
 * The errors a caller of the job core catches: cancelling a finished job, submitting during
 * shutdown. (A full waiting line is `QueueFullError`, in `admission.ts`.)
 *
 * @module
 */

import type { JobStatus } from "../core/job.ts";

/** Thrown by `cancel` for a job that has already finished. */
export class JobFinishedError extends Error {
  /** The job's final status. */
  readonly status: JobStatus;
  /** Creates the error for job `id` that ended as `status`. */
  constructor(id: string, status: JobStatus) {
    super(`Job ${id} has already finished as ${status}`);
    this.name = "JobFinishedError";
    this.status = status;
  }
}

/** Thrown by `submit` once shutdown has begun. */
export class ShuttingDownError extends Error {
  /** Creates the error. */
  constructor() {
    super("The service is shutting down and accepts no new jobs");
    this.name = "ShuttingDownError";
  }
}
