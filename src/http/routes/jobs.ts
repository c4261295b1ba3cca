/**
 * The jobs API: `POST /api/jobs` submits, `GET /api/jobs` lists, `GET /api/jobs/:id` reads,
 * `DELETE /api/jobs/:id` cancels.
 *
 * @module
 */

import { HttpError } from "../../core/http_error.ts";
import type { JobManager } from "../../jobs/job_manager.ts";
import type { AccessControl } from "../access_control.ts";
import { JobSubmission, type JobSubmissionOptions } from "../job_submission.ts";
import { json } from "../json_response.ts";
import type { RouteContext } from "../middleware/middleware.ts";
import type { Router } from "../router.ts";
import { findJob, shownBody, snapshotBody } from "./job_lookup.ts";

/** What the jobs routes need. */
export interface JobRoutesDeps {
  /** Runs and tracks jobs. */
  manager: JobManager;
  /** Stream tokens for snapshots. */
  access: AccessControl;
  /** Largest request body in bytes. */
  maxBodyBytes: number;
  /** `Idempotency-Key`s of submits; by default in memory, for as long as the routes live. */
  idempotency?: JobSubmissionOptions["idempotency"];
  /** Checks a submit's own `webhook`; by default any given is refused. */
  checkWebhook?: JobSubmissionOptions["checkWebhook"];
}

/** Adds the jobs API to `router`. */
export function addJobRoutes(router: Router<RouteContext>, deps: JobRoutesDeps): void {
  const { manager, access, maxBodyBytes } = deps;
  const submission = new JobSubmission({
    manager,
    maxBodyBytes,
    ...(deps.idempotency ? { idempotency: deps.idempotency } : {}),
    ...(deps.checkWebhook ? { checkWebhook: deps.checkWebhook } : {}),
  });
  router
    .add("POST", "/api/jobs", async (request) => {
      const { snapshot, replayed } = await submission.handle(request);
      return json(await shownBody(snapshot, access), 202, {
        location: `/api/jobs/${snapshot.id}`,
        ...(replayed ? { "idempotent-replayed": "true" } : {}),
      });
    })
    .add("GET", "/api/jobs", async (_request, _params, { url }) => {
      const raw = url.searchParams.get("limit") ?? "20";
      const limit = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
      if (!(limit >= 1 && limit <= 100)) {
        throw new HttpError(
          400,
          "invalid_limit",
          `'limit' must be an integer from 1 to 100: current value is ${JSON.stringify(raw)}`,
        );
      }
      const records = await manager.list(limit);
      return json({ jobs: await Promise.all(records.map((r) => snapshotBody(r, access))) });
    })
    .add("GET", "/api/jobs/:id", async (_request, { id }) => {
      return json(await snapshotBody(await findJob(manager, id), access));
    })
    .add("DELETE", "/api/jobs/:id", async (_request, { id }) => {
      const record = await manager.cancel((await findJob(manager, id)).id);
      if (!record) throw new HttpError(404, "not_found", "Job not found");
      return json(await snapshotBody(record, access), 202);
    });
}
