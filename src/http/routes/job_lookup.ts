/**
 * What the job routes share: finding a job by the id in its path, and its public JSON with the
 * stream token clients need when `API_TOKEN` is set.
 *
 * @module
 */

import { HttpError } from "../../core/http_error.ts";
import { type JobRecord, type JobSnapshot, toSnapshot } from "../../core/job.ts";
import type { JobManager } from "../../jobs/job_manager.ts";
import type { AccessControl } from "../access_control.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The record of job `id`, or `undefined` when `id` is no job id or no job has it. */
export async function lookUpJob(
  manager: JobManager,
  id: string | undefined,
): Promise<JobRecord | undefined> {
  return id !== undefined && UUID.test(id) ? await manager.get(id) : undefined;
}

/** The record of job `id`; throws `404` when there is none. */
export async function findJob(manager: JobManager, id: string | undefined): Promise<JobRecord> {
  const record = await lookUpJob(manager, id);
  if (!record) throw new HttpError(404, "not_found", "Job not found");
  return record;
}

/** The public JSON of `record`, with its `streamToken` when access is restricted. */
export async function snapshotBody(
  record: JobRecord,
  access: AccessControl,
): Promise<Record<string, unknown>> {
  return await shownBody(toSnapshot(record), access);
}

/** `snapshot` (taken now, or an idempotent submit's first answer), with its `streamToken`. */
export async function shownBody(
  snapshot: JobSnapshot,
  access: AccessControl,
): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = { ...snapshot };
  if (access.enabled) body.streamToken = await access.streamToken(snapshot.id);
  return body;
}
