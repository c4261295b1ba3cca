/**
 * `GET /healthz` (the process and the store) and `GET /metrics` (Prometheus text).
 *
 * @module
 */

import type { JobManager } from "../../jobs/job_manager.ts";
import { json } from "../json_response.ts";
import type { Metrics, Reading } from "../metrics.ts";
import type { RouteContext } from "../middleware/middleware.ts";
import type { Router } from "../router.ts";

/** What the health and metrics routes need. */
export interface HealthRoutesDeps {
  /** Live figures of the jobs. */
  manager: JobManager;
  /** Counters. */
  metrics: Metrics;
  /** The troubled parts, such as `{ redis: "unreachable" }`, or `null` (see `HandlerDeps`). */
  health?: (() => Promise<Record<string, string> | null>) | undefined;
  /** The line shared by every instance, when there is one (see `HandlerDeps`). */
  sharedQueue?: (() => Promise<{ waiting: number; running: number }>) | undefined;
  /** More readings, such as the webhook counters (see `HandlerDeps`). */
  readings?: (() => Record<string, Reading>) | undefined;
}

/** Adds `/healthz` and `/metrics` to `router`. */
export function addHealthRoutes(router: Router<RouteContext>, deps: HealthRoutesDeps): void {
  const { manager, metrics } = deps;
  router
    .add("GET", "/healthz", async () => {
      const trouble = await deps.health?.();
      return trouble ? json({ status: "degraded", ...trouble }, 503) : json({ status: "ok" });
    })
    .add("GET", "/metrics", async () => {
      const stats = manager.stats();
      // Metrics must answer while Redis does not: then only this instance's figures are shown.
      const shared = await deps.sharedQueue?.().catch(() => undefined);
      const body = metrics.render({
        ...deps.readings?.(),
        ...(shared
          ? {
            quillflow_shared_jobs_waiting: {
              type: "gauge",
              help: "Jobs waiting in the line shared by every instance.",
              values: [["", shared.waiting]],
            },
            quillflow_shared_jobs_running: {
              type: "gauge",
              help: "Jobs running on any instance.",
              values: [["", shared.running]],
            },
          }
          : {}),
        quillflow_jobs: {
          type: "gauge",
          help: "Jobs kept, by status.",
          values: Object.entries(stats.jobsByStatus).map((
            [status, n],
          ) => [`{status="${status}"}`, n]),
        },
        quillflow_jobs_running: {
          type: "gauge",
          help: "Jobs running now.",
          values: [["", stats.running]],
        },
        quillflow_jobs_queued: {
          type: "gauge",
          help: "Jobs waiting for a slot.",
          values: [["", stats.queued]],
        },
        quillflow_sse_streams_open: {
          type: "gauge",
          help: "Open event streams.",
          values: [["", stats.streams]],
        },
        quillflow_sse_items_sent_total: {
          type: "counter",
          help: "Items written to event streams.",
          values: [["", stats.itemsWritten]],
        },
        quillflow_sse_stalled_drops_total: {
          type: "counter",
          help: "Streams dropped for not reading.",
          values: [["", stats.stalledDrops]],
        },
      });
      return new Response(body, {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    });
}
