/**
 * The OpenAPI path items of the service itself: `/healthz`, `/metrics`, `/openapi.json`, the
 * pages (`/`, `/docs`) and their files (`/static/{name}`).
 *
 * @module
 */

import { HealthSchema } from "./api_schema.ts";
import { errorOf, json, PUBLIC } from "./openapi_components.ts";
import type { OpenApiOperation, OpenApiPathItem } from "./openapi_types.ts";

const page = (operationId: string, summary: string, description: string): OpenApiOperation => ({
  operationId,
  summary,
  description,
  tags: ["Service"],
  security: PUBLIC,
  responses: {
    "200": {
      description: "The page, under a strict Content-Security-Policy (`script-src 'self'`).",
      content: { "text/html": { schema: { type: "string" } } },
    },
  },
});

/** The service's own paths: health, metrics, this document, the pages and their files. */
export const SERVICE_PATHS: Record<string, OpenApiPathItem> = {
  "/healthz": {
    get: {
      operationId: "getHealth",
      summary: "Health",
      description: "For load balancers; never needs a token.",
      tags: ["Service"],
      security: PUBLIC,
      responses: {
        "200": { description: "All is well.", content: json(HealthSchema) },
        "503": {
          description: "Degraded: a part the service needs does not answer (`STORE=redis`).",
          content: json(HealthSchema),
        },
      },
    },
  },
  "/metrics": {
    get: {
      operationId: "getMetrics",
      summary: "Metrics",
      description: "Prometheus text format: jobs by status, running, queued, open streams, " +
        "requests, LLM calls. Never needs a token.",
      tags: ["Service"],
      security: PUBLIC,
      responses: {
        "200": {
          description: "The metrics.",
          content: { "text/plain": { schema: { type: "string" } } },
        },
      },
    },
  },
  "/openapi.json": {
    get: {
      operationId: "getOpenApi",
      summary: "This document",
      tags: ["Service"],
      security: PUBLIC,
      responses: {
        "200": {
          description: "The OpenAPI 3.1 document.",
          content: json({ type: "object", additionalProperties: true }),
        },
      },
    },
  },
  "/docs": {
    get: page("getDocs", "API reference", "This document rendered for people."),
  },
  "/": {
    get: page("getPage", "The web page", "Write an article and watch it being written."),
  },
  "/static/{name}": {
    get: {
      operationId: "getStaticAsset",
      summary: "A file of the pages",
      description: "The pages' scripts, style sheet, and the vendored libraries with their " +
        "licenses. Revalidated each time (`Cache-Control: no-cache`) with an `ETag`.",
      tags: ["Service"],
      security: PUBLIC,
      parameters: [{
        name: "name",
        in: "path",
        required: true,
        description: "The file's name, such as `app.js`.",
        schema: { type: "string" },
      }, {
        name: "If-None-Match",
        in: "header",
        description: "The `ETag` of a copy held: answered with `304` while it is current.",
        schema: { type: "string" },
      }],
      responses: {
        "200": {
          description: "The file.",
          headers: {
            ETag: {
              description: "The file's version.",
              required: true,
              schema: { type: "string" },
            },
          },
          content: {
            "text/javascript": { schema: { type: "string" } },
            "text/css": { schema: { type: "string" } },
            "text/plain": { schema: { type: "string" } },
          },
        },
        "304": { description: "The copy held is current." },
        "404": errorOf("`not_found`: no file has this name."),
      },
    },
  },
};
