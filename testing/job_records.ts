/**
 * A job record for tests of stores and the manager, with every required field filled in.
 *
 * @module
 */

import type { JobRecord } from "../src/core/job.ts";

/**
 * A queued offline job `id` with `fields` laid over it.
 *
 * @example
 * ```ts
 * import { jobRecord } from "./job_records.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(jobRecord("a", { status: "running" }).status, "running");
 * ```
 */
export function jobRecord(id: string, fields: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    topic: `topic ${id}`,
    status: "queued",
    progress: 0,
    step: null,
    provider: "offline",
    model: null,
    createdAt: 1,
    lastEventId: 0,
    ...fields,
  };
}
