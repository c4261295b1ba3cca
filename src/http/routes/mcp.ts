/**
 * `/mcp`: the MCP Streamable HTTP endpoint, answered by `src/mcp/http_endpoint.ts` through the
 * function the composition root gives; `404` when there is none.
 *
 * @module
 */

import { HttpError } from "../../core/http_error.ts";
import type { RouteContext } from "../middleware/middleware.ts";
import type { Router } from "../router.ts";

/** Adds `GET`, `POST` and `DELETE /mcp` to `router`, answered by `mcp`. */
export function addMcpRoutes(
  router: Router<RouteContext>,
  mcp: ((request: Request) => Promise<Response>) | undefined,
): void {
  const answer = mcp ?? (() => {
    throw new HttpError(404, "not_found", "This service has no MCP endpoint");
  });
  for (const method of ["GET", "POST", "DELETE"]) router.add(method, "/mcp", (r) => answer(r));
}
