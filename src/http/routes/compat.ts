/**
 * The original example's routes, for its pages: `POST /start-job` and `GET /progress/:id`, in
 * its message shapes (see `event_stream_response.ts`).
 *
 * @module
 */

import { readTopic } from "../../core/topic_input.ts";
import type { JobManager } from "../../jobs/job_manager.ts";
import { eventStreamResponse } from "../event_stream_response.ts";
import { json } from "../json_response.ts";
import type { RouteContext } from "../middleware/middleware.ts";
import type { Router } from "../router.ts";
import { encodeSse, SSE_HEADERS } from "../sse_encoder.ts";
import { lookUpJob } from "./job_lookup.ts";

/** What the compat routes need. */
export interface CompatRoutesDeps {
  /** Runs and tracks jobs. */
  manager: JobManager;
  /** Largest request body in bytes. */
  maxBodyBytes: number;
  /** Items buffered per stream before waiting on the client. */
  highWaterMark: number;
  /** How long a stream stays open after its last message, in ms (see `HandlerDeps`). */
  holdOpenMs: number;
}

/** The example's page reads errors from the stream, never from the status. */
function compatNotFound(): Response {
  return new Response(encodeSse({ data: JSON.stringify({ error: "Job not found" }) }), {
    headers: SSE_HEADERS,
  });
}

/** Adds the original example's routes to `router`. */
export function addCompatRoutes(router: Router<RouteContext>, deps: CompatRoutesDeps): void {
  const { manager, maxBodyBytes, highWaterMark, holdOpenMs } = deps;
  router
    .add("POST", "/start-job", async (request) => {
      const record = await manager.submit(await readTopic(request, maxBodyBytes));
      return json({ job_id: record.id, topic: record.topic, status: "started" });
    })
    .add("GET", "/progress/:id", async (_request, { id }) => {
      const record = await lookUpJob(manager, id);
      if (!record) return compatNotFound();
      return eventStreamResponse((sink) => manager.subscribe(record, 0, sink), {
        compat: true,
        highWaterMark,
        holdOpenMs,
      });
    });
}
