/**
 * The pages: `GET /` (the app), `GET /docs` (the API reference, rendered in the browser from
 * `/openapi.json`) and their files under `GET /static/:name`, with a strict CSP and ETags.
 *
 * @module
 */

import { HttpError } from "../../core/http_error.ts";
import type { RouteContext } from "../middleware/middleware.ts";
import type { Router } from "../router.ts";
import { assetEtag, STATIC_ASSETS } from "../static_assets.ts";
import page from "../../../static/index.html" with { type: "text" };
import docsPage from "../../../static/docs.html" with { type: "text" };

// Scripts and styles are files served by this service: no inline code, no other origin.
const PAGE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

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

/** Adds the pages (the app at `/`, the API reference at `/docs`) and their files to `router`. */
export function addPageRoutes(router: Router<RouteContext>): void {
  router
    .add("GET", "/", () => htmlPage(page))
    .add("GET", "/docs", () => htmlPage(docsPage))
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
    });
}
