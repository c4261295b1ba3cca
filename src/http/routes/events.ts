/**
 * The event streams: `GET /api/jobs/:id/events`, a job's events as Server-Sent Events, replayed
 * from the log after `Last-Event-ID` (or `?lastEventId=`), then live, ending after the terminal
 * event; and `GET /api/events`, several jobs' (`?jobs=`) or every job's from now, each frame
 * carrying the cursor that resumes them all.
 *
 * @module
 */

import { HttpError } from "../../core/http_error.ts";
import type { JobRecord } from "../../core/job.ts";
import type { JobManager } from "../../jobs/job_manager.ts";
import { eventStreamResponse, jobsStreamResponse } from "../event_stream_response.ts";
import { readEventsRequest } from "../events_request.ts";
import type { RouteContext } from "../middleware/middleware.ts";
import type { Router } from "../router.ts";
import { findJob } from "./job_lookup.ts";

/** What the events route needs. */
export interface EventRoutesDeps {
  /** Runs and tracks jobs. */
  manager: JobManager;
  /** Items buffered per stream before waiting on the client. */
  highWaterMark: number;
}

/** The event id a stream resumes after: `Last-Event-ID` header first, then `?lastEventId=`. */
function lastEventId(request: Request, url: URL, record: JobRecord): number {
  const raw = request.headers.get("last-event-id") ?? url.searchParams.get("lastEventId");
  if (raw === null || raw === "") return 0;
  const id = /^\d{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!(id >= 0 && id <= record.lastEventId)) {
    throw new HttpError(
      400,
      "invalid_last_event_id",
      `Last-Event-ID must be an event id of this job, from 0 to ${record.lastEventId}: current value is ${
        JSON.stringify(raw.slice(0, 40))
      }`,
    );
  }
  return id;
}

/** Adds the event stream routes to `router`. */
export function addEventRoutes(router: Router<RouteContext>, deps: EventRoutesDeps): void {
  const { manager, highWaterMark } = deps;
  router.add("GET", "/api/jobs/:id/events", async (request, { id }, { url }) => {
    const record = await findJob(manager, id);
    const afterId = lastEventId(request, url, record);
    return eventStreamResponse((sink) => manager.subscribe(record, afterId, sink), {
      compat: false,
      highWaterMark,
    });
  });
  router.add("GET", "/api/events", async (request, _params, { url }) => {
    const read = await readEventsRequest(request, url, manager);
    return jobsStreamResponse(
      (sink) =>
        read.kind === "listed"
          ? manager.subscribeJobs(read.jobs, sink)
          : manager.subscribeEvery(read.position, sink),
      { highWaterMark },
    );
  });
}
