/**
 * `GET /openapi.json`: the API as an OpenAPI 3.1 document (`src/api/openapi.ts`), serialised once.
 *
 * @module
 */

import { openApiDocument } from "../../api/openapi.ts";
import type { RouteContext } from "../middleware/middleware.ts";
import type { Router } from "../router.ts";

/** Adds `/openapi.json` to `router`. */
export function addOpenApiRoutes(router: Router<RouteContext>): void {
  let text: string | undefined;
  router.add(
    "GET",
    "/openapi.json",
    () =>
      new Response(text ??= JSON.stringify(openApiDocument()), {
        headers: {
          "content-type": "application/json; charset=utf-8",
          "cache-control": "no-cache",
        },
      }),
  );
}
