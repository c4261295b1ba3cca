/**
 * The HTTP surface: the native REST + SSE API, the original example's routes, health, metrics
 * and the page. `createHandler` returns a plain `(Request) => Promise<Response>`, so tests call
 * it directly and `Deno.serve` serves it. Errors become JSON responses in one place.
 *
 * @module
 */

import { HttpError } from "./http_error.ts";
import { type JobRecord, toSnapshot } from "./job.ts";
import {
  JobFinishedError,
  type JobManager,
  QueueFullError,
  ShuttingDownError,
} from "./job_manager.ts";
import { eventStreamResponse, jobsStreamResponse } from "./job_stream.ts";
import { readEventsRequest } from "./events_request.ts";
import { type Logger, silentLogger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import { Router } from "./router.ts";
import { encodeSse, SSE_HEADERS } from "./sse.ts";
import { readTopic } from "./topic_input.ts";
import { AccessControl, preflightMethod } from "./access_control.ts";
import { assetEtag, STATIC_ASSETS } from "./static_assets.ts";
import { StoreUnavailableError } from "./store_unavailable_error.ts";
import { openApiDocument } from "./openapi.ts";
import page from "../static/index.html" with { type: "text" };
import docsPage from "../static/docs.html" with { type: "text" };

// Scripts and styles are files served by this service: no inline code, no other origin.
const PAGE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** What the handler needs. */
export interface HandlerDeps {
  /** Runs and tracks jobs. */
  manager: JobManager;
  /** Counters for `/metrics`. */
  metrics: Metrics;
  /** Request logs. */
  logger?: Logger;
  /** Largest request body in bytes. Default 16 KiB. */
  maxBodyBytes?: number;
  /** Items buffered per event stream before waiting on the client. Default 64. */
  sseClientBuffer?: number;
  /**
   * How long a `/progress/{id}` stream stays open after its last message, with heartbeats, in
   * ms: the original example's page reports any close as a lost connection. Default 5 minutes.
   */
  compatHoldMs?: number;
  /** When set, the API requires `Authorization: Bearer <apiToken>`. */
  apiToken?: string | undefined;
  /** Origins allowed by CORS; none by default. */
  corsOrigins?: readonly string[];
  /**
   * What `/healthz` reports besides the process: `null` when all is well, else the troubled
   * parts, such as `{ redis: "unreachable" }` (answered with `503`).
   */
  health?: () => Promise<Record<string, string> | null>;
  /**
   * The waiting line shared by every instance, when there is one (`STORE=redis`): jobs waiting
   * and jobs running on any instance. `/metrics` leaves these gauges out when it rejects.
   */
  sharedQueue?: () => Promise<{ waiting: number; running: number }>;
  /** Answers the MCP Streamable HTTP endpoint, `/mcp` (see `src/mcp/http_endpoint.ts`). */
  mcp?: (request: Request) => Promise<Response>;
}

/** The request handler, and the routes it serves (for tests that hold them to the document). */
export type RequestHandler = ((request: Request) => Promise<Response>) & {
  readonly routes: readonly { method: string; path: string }[];
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** The one place errors become responses: `{"error": {"code", "message"}}`. */
export function errorResponse(error: unknown, logger: Logger = silentLogger): Response {
  if (error instanceof HttpError) {
    return json(
      { error: { code: error.code, message: error.message } },
      error.status,
      error.headers,
    );
  }
  if (error instanceof QueueFullError) {
    return json({ error: { code: "queue_full", message: error.message } }, 429, {
      "retry-after": String(error.retryAfterSeconds),
    });
  }
  if (error instanceof ShuttingDownError) {
    return json({ error: { code: "shutting_down", message: error.message } }, 503, {
      "retry-after": "5",
    });
  }
  if (error instanceof StoreUnavailableError) {
    return json({ error: { code: "store_unavailable", message: error.message } }, 503, {
      "retry-after": "5",
    });
  }
  if (error instanceof JobFinishedError) {
    return json({ error: { code: "job_finished", message: error.message } }, 409);
  }
  logger.log("error", "unhandled error", {
    error: error instanceof Error ? error.stack : String(error),
  });
  return json({ error: { code: "internal", message: "Internal server error" } }, 500);
}

interface Ctx {
  url: URL;
}

/**
 * Builds the request handler.
 *
 * @example
 * ```ts
 * import { createHandler } from "./app.ts";
 * import { JobManager } from "./job_manager.ts";
 * import { MemoryJobStore } from "./job_store.ts";
 * import { OfflineWriter } from "./llm_offline.ts";
 * import { Metrics } from "./metrics.ts";
 * import assert from "node:assert/strict";
 *
 * const manager = new JobManager({ store: new MemoryJobStore(), llm: new OfflineWriter() });
 * const handler = createHandler({ manager, metrics: new Metrics() });
 * const response = await handler(new Request("http://localhost/healthz"));
 * assert.deepEqual(await response.json(), { status: "ok" });
 * await manager.close();
 * ```
 */
export function createHandler(deps: HandlerDeps): RequestHandler {
  const { manager, metrics } = deps;
  const logger = deps.logger ?? silentLogger;
  const maxBodyBytes = deps.maxBodyBytes ?? 16_384;
  const highWaterMark = deps.sseClientBuffer ?? 64;
  const compatHoldMs = deps.compatHoldMs ?? 300_000;
  const access = new AccessControl(deps.apiToken, deps.corsOrigins ?? []);
  const mcp = deps.mcp ?? (() => {
    throw new HttpError(404, "not_found", "This service has no MCP endpoint");
  });

  const findJob = async (id: string | undefined): Promise<JobRecord> => {
    const record = id !== undefined && UUID.test(id) ? await manager.get(id) : undefined;
    if (!record) throw new HttpError(404, "not_found", "Job not found");
    return record;
  };

  const snapshot = async (record: JobRecord) => {
    const body: Record<string, unknown> = { ...toSnapshot(record) };
    if (access.enabled) body.streamToken = await access.streamToken(record.id);
    return body;
  };

  let openApiText: string | undefined;

  const router = new Router<Ctx>()
    .add("GET", "/", () => htmlPage(page))
    .add("GET", "/docs", () => htmlPage(docsPage))
    .add(
      "GET",
      "/openapi.json",
      () =>
        new Response(openApiText ??= JSON.stringify(openApiDocument()), {
          headers: {
            "content-type": "application/json; charset=utf-8",
            "cache-control": "no-cache",
          },
        }),
    )
    .add("GET", "/static/:name", async (request, { name }) => {
      const asset = name === undefined ? undefined : STATIC_ASSETS.get(name);
      if (!asset || name === undefined) {
        throw new HttpError(404, "not_found", `No asset named ${JSON.stringify(name)}`);
      }
      const etag = await assetEtag(name, asset);
      // Names carry no hash, so clients revalidate every time; the ETag makes that cheap.
      const headers = {
        "content-type": asset.contentType,
        "x-content-type-options": "nosniff",
        "cache-control": "no-cache",
        etag,
      };
      if (request.headers.get("if-none-match") === etag) {
        return new Response(null, { status: 304, headers });
      }
      return new Response(asset.body, { headers });
    })
    .add("GET", "/healthz", async () => {
      const trouble = await deps.health?.();
      return trouble ? json({ status: "degraded", ...trouble }, 503) : json({ status: "ok" });
    })
    .add("GET", "/metrics", async () => {
      const stats = manager.stats();
      // Metrics must answer while Redis does not: then only this instance's figures are shown.
      const shared = await deps.sharedQueue?.().catch(() => undefined);
      const body = metrics.render({
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
    })
    .add("POST", "/api/jobs", async (request) => {
      const record = await manager.submit(await readTopic(request, maxBodyBytes));
      return json(await snapshot(record), 202, { location: `/api/jobs/${record.id}` });
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
      return json({ jobs: await Promise.all(records.map(snapshot)) });
    })
    .add(
      "GET",
      "/api/jobs/:id",
      async (_request, { id }) => json(await snapshot(await findJob(id))),
    )
    .add("DELETE", "/api/jobs/:id", async (_request, { id }) => {
      const record = await manager.cancel((await findJob(id)).id);
      if (!record) throw new HttpError(404, "not_found", "Job not found");
      return json(await snapshot(record), 202);
    })
    .add("GET", "/api/jobs/:id/events", async (request, { id }, { url }) => {
      const record = await findJob(id);
      const afterId = lastEventId(request, url, record);
      return eventStreamResponse((sink) => manager.subscribe(record, afterId, sink), {
        compat: false,
        highWaterMark,
      });
    })
    .add("GET", "/api/events", async (request, _params, { url }) => {
      const read = await readEventsRequest(request, url, manager);
      return jobsStreamResponse(
        (sink) =>
          read.kind === "listed"
            ? manager.subscribeJobs(read.jobs, sink)
            : manager.subscribeEvery(read.position, sink),
        { highWaterMark },
      );
    })
    .add("POST", "/start-job", async (request) => {
      const record = await manager.submit(await readTopic(request, maxBodyBytes));
      return json({ job_id: record.id, topic: record.topic, status: "started" });
    })
    .add("GET", "/mcp", (request) => mcp(request))
    .add("POST", "/mcp", (request) => mcp(request))
    .add("DELETE", "/mcp", (request) => mcp(request))
    .add("GET", "/progress/:id", async (_request, { id }) => {
      const record = id !== undefined && UUID.test(id) ? await manager.get(id) : undefined;
      if (!record) return compatNotFound();
      return eventStreamResponse((sink) => manager.subscribe(record, 0, sink), {
        compat: true,
        highWaterMark,
        holdOpenMs: compatHoldMs,
      });
    });

  const handle = async (request: Request): Promise<Response> => {
    const started = performance.now();
    const url = new URL(request.url);
    let response: Response;
    try {
      response = await route(request, url);
    } catch (error) {
      response = errorResponse(error, logger);
    }
    access.applyCors(request, response);
    metrics.httpRequests++;
    logger.log(response.status >= 500 ? "error" : "debug", "request", {
      method: request.method,
      path: url.pathname,
      status: response.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
    return response;
  };
  return Object.assign(handle, { routes: router.routes() });

  async function route(request: Request, url: URL): Promise<Response> {
    if (request.method === "OPTIONS" && access.isPreflight(request)) {
      // Granted only for a route that takes the method: a preflight is a question about it.
      const asked = router.match(preflightMethod(request), url.pathname);
      if (asked.kind === "none") {
        throw new HttpError(404, "not_found", `No route for ${url.pathname}`);
      }
      if (asked.kind === "method") {
        throw new HttpError(
          405,
          "method_not_allowed",
          `${JSON.stringify(preflightMethod(request))} is not allowed here`,
          { headers: { allow: asked.allow.join(", ") } },
        );
      }
      return access.preflight(request);
    }
    const match = router.match(request.method, url.pathname);
    if (match.kind === "none") {
      throw new HttpError(404, "not_found", `No route for ${url.pathname}`);
    }
    if (match.kind === "method") {
      throw new HttpError(405, "method_not_allowed", `${request.method} is not allowed here`, {
        headers: { allow: match.allow.join(", ") },
      });
    }
    await access.authorize(request, url, match.params.id);
    return await match.handler(request, match.params, { url });
  }
}

function htmlPage(html: string): Response {
  return new Response(html, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": PAGE_CSP,
      "x-content-type-options": "nosniff",
      "cache-control": "no-cache",
    },
  });
}

function compatNotFound(): Response {
  return new Response(encodeSse({ data: JSON.stringify({ error: "Job not found" }) }), {
    headers: SSE_HEADERS,
  });
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
