/**
 * The HTTP surface: route groups (`routes/`) added to one fast router, and the cross-cutting
 * concerns (`middleware/`) composed around them, here, in the order a request meets them.
 * `createHandler` returns a plain `(Request) => Promise<Response>`, so tests call it with
 * `new Request()` and `Deno.serve` serves it.
 *
 * @module
 */

import { type Logger, silentLogger } from "../core/logger.ts";
import type { IdempotentSubmit } from "../idempotency/idempotent_submit.ts";
import type { JobManager } from "../jobs/job_manager.ts";
import { AccessControl } from "./access_control.ts";
import type { Metrics, Reading } from "./metrics.ts";
import { auth } from "./middleware/auth.ts";
import { cors } from "./middleware/cors.ts";
import { errors } from "./middleware/errors.ts";
import { compose, type RequestContext, type RouteContext } from "./middleware/middleware.ts";
import { requestLog } from "./middleware/request_log.ts";
import { Context } from "./middleware/request_context.ts";
import { routing } from "./middleware/routing.ts";
import { Router } from "./router.ts";
import { addCompatRoutes } from "./routes/compat.ts";
import { addEventRoutes } from "./routes/events.ts";
import { addHealthRoutes } from "./routes/health.ts";
import { addJobRoutes } from "./routes/jobs.ts";
import { addMcpRoutes } from "./routes/mcp.ts";
import { addOpenApiRoutes } from "./routes/openapi.ts";
import { addPageRoutes } from "./routes/page.ts";

export { errorResponse } from "./middleware/errors.ts";

/** The request handler, and the routes it serves (for tests that hold them to the document). */
export type RequestHandler = ((request: Request) => Promise<Response>) & {
  readonly routes: readonly { method: string; path: string }[];
};

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
  /** `Idempotency-Key`s of `POST /api/jobs`; by default in memory, for this handler's life. */
  idempotency?: IdempotentSubmit;
  /** Checks a submit's own `webhook` URL (see `JobSubmission`); by default any is refused. */
  checkWebhook?: (value: unknown) => Promise<string | undefined>;
  /** More readings for `/metrics`, such as the webhook counters. */
  readings?: () => Record<string, Reading>;
}

/**
 * Builds the request handler.
 *
 * @example
 * ```ts
 * import { createHandler } from "./app.ts";
 * import { JobManager } from "../jobs/job_manager.ts";
 * import { MemoryJobStore } from "../store/memory_job_store.ts";
 * import { OfflineWriter } from "../llm/offline_writer.ts";
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
  const access = new AccessControl(deps.apiToken, deps.corsOrigins ?? []);

  const router = new Router<RouteContext>();
  addPageRoutes(router);
  addOpenApiRoutes(router);
  addHealthRoutes(router, {
    manager,
    metrics,
    health: deps.health,
    sharedQueue: deps.sharedQueue,
    readings: deps.readings,
  });
  addJobRoutes(router, {
    manager,
    access,
    maxBodyBytes,
    ...(deps.idempotency ? { idempotency: deps.idempotency } : {}),
    ...(deps.checkWebhook ? { checkWebhook: deps.checkWebhook } : {}),
  });
  addEventRoutes(router, { manager, highWaterMark });
  addCompatRoutes(router, {
    manager,
    maxBodyBytes,
    highWaterMark,
    holdOpenMs: deps.compatHoldMs ?? 300_000,
  });
  addMcpRoutes(router, deps.mcp);

  // Outermost first: every response is logged and gets CORS headers, errors included. A concern
  // that is off (no CORS_ORIGINS, no API_TOKEN) is left out: each layer costs every request.
  const app = compose(
    [
      requestLog(logger, metrics),
      ...(access.corsEnabled ? [cors(access)] : []),
      errors(logger),
      routing(router, access),
      ...(access.enabled ? [auth(access)] : []),
    ],
    async (ctx: RequestContext) => {
      const handler = ctx.handler as NonNullable<RequestContext["handler"]>;
      // The context is the route's context too: its URL is parsed only if the route asks.
      return await handler(ctx.request, ctx.params, ctx);
    },
  );
  const handle = (request: Request) => app(new Context(request));
  return Object.assign(handle, { routes: router.routes() });
}
