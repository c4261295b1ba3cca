/**
 * The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json` and rendered at
 * `GET /docs`. Every shape comes from `src/api_schema.ts`, which the client's types derive from
 * too; the tests check every real response and event against this document.
 *
 * Event streams are `text/event-stream` responses whose events are described the way OpenAPI
 * 3.2 does (`itemSchema`), under the extension `x-itemSchema`: one object per event with its
 * `event`, `id` and `data` fields, `data` being JSON whose schema is its `contentSchema`.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { API_SCHEMAS } from "./api_schema.ts";
import type { JsonSchema } from "../core/json_schema.ts";
import { API_SECURITY, HEADERS, PARAMETERS, RESPONSES } from "./openapi_components.ts";
import {
  CompatStreamMessageSchema,
  JobsStreamMessageSchema,
  JobStreamMessageSchema,
} from "./openapi_stream_messages.ts";
import { COMPAT_PATHS } from "./openapi_compat_paths.ts";
import { EVENT_PATHS } from "./openapi_event_paths.ts";
import { JOB_PATHS } from "./openapi_job_paths.ts";
import { MCP_PATHS } from "./openapi_mcp_paths.ts";
import { SERVICE_PATHS } from "./openapi_service_paths.ts";
import type {
  OpenApiDocument,
  OpenApiParameter,
  OpenApiPathItem,
  OpenApiResponse,
} from "./openapi_types.ts";

export type {
  OpenApiDocument,
  OpenApiHeader,
  OpenApiMediaType,
  OpenApiMethod,
  OpenApiOperation,
  OpenApiParameter,
  OpenApiPathItem,
  OpenApiRef,
  OpenApiResponse,
} from "./openapi_types.ts";

const NAMED_SCHEMAS: Record<string, JsonSchema> = {
  ...API_SCHEMAS,
  JobStreamMessage: JobStreamMessageSchema,
  JobsStreamMessage: JobsStreamMessageSchema,
  CompatStreamMessage: CompatStreamMessageSchema,
};

const PATHS: Record<string, OpenApiPathItem> = {
  ...JOB_PATHS,
  ...EVENT_PATHS,
  ...COMPAT_PATHS,
  ...SERVICE_PATHS,
  ...MCP_PATHS,
};

/** Replaces every named schema used inside `value` with a reference to its component. */
function withRefs(value: unknown, names: Map<unknown, string>, top = false): unknown {
  const name = top ? undefined : names.get(value);
  if (name !== undefined) return { $ref: `#/components/schemas/${name}` };
  if (Array.isArray(value)) return value.map((item) => withRefs(item, names));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, withRefs(item, names)]),
    );
  }
  return value;
}

const DESCRIPTION = `Quillflow turns an article topic into an article through an LLM workflow
(outline, content, style) that runs as a background job. Start a job with \`POST /api/jobs\`, follow
it with Server-Sent Events on \`GET /api/jobs/{id}/events\`, read or cancel it.

**Access.** When the service runs with \`API_TOKEN\`, every route but the pages, their files,
\`/healthz\`, \`/metrics\`, \`/openapi.json\` and \`/docs\` needs \`Authorization: Bearer <token>\`;
a job's stream also takes its \`streamToken\` as \`?token=\`. CORS is off unless \`CORS_ORIGINS\`
lists origins: a preflight (\`OPTIONS\`) from one of them gets \`204\`, from any other \`403\`.

**Errors** are JSON, \`{"error": {"code", "message"}}\`, on every route of the service itself (the
MCP transport answers its own errors as JSON-RPC). A path this document does not list gets \`404\`;
a method it does not list on a path gets \`405\` with \`Allow\`. Each \`GET\` also answers \`HEAD\`.

**Idempotent submits.** Send an \`Idempotency-Key\` with \`POST /api/jobs\`: a repeat with the same
key and body within \`IDEMPOTENCY_TTL\` answers the first job again, with \`Idempotent-Replayed: true\`;
the same key with another body is \`422\`, and a repeat while the first is still handled \`409\`.

\`\`\`
curl -X POST http://127.0.0.1:8000/api/jobs -H 'Idempotency-Key: order-42' \\
  -H 'content-type: application/json' -d '{"topic": "The history of tea"}'
\`\`\`

**Signed webhooks.** With \`WEBHOOK_URLS\` and \`WEBHOOK_SECRET\` (\`whsec_…\`) set, each job's end is
POSTed as \`job.completed\`, \`job.failed\` or \`job.cancelled\` with the job as \`data\`, signed as
Standard Webhooks says, and retried with backoff under the same id; a submit may name its own
\`webhook\` URL when its origin is in \`WEBHOOK_ALLOWED_ORIGINS\`.

\`\`\`
webhook-id: msg_<job id>
webhook-timestamp: <seconds since 1970>
webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">
\`\`\`

**A typed client** ships with the service (\`src/client/client.ts\`); \`events()\` reconnects with
\`Last-Event-ID\` by itself and ends at the job's end.

\`\`\`
const client = new QuillflowClient("http://127.0.0.1:8000");
const job = await client.submit("The history of tea", { idempotencyKey: "order-42" });
for await (const event of client.events(job.id)) console.log(event.type, event.data);
\`\`\``;

let built: OpenApiDocument | undefined;

/**
 * The OpenAPI 3.1 document of the service, built once.
 *
 * @example
 * ```ts
 * import { openApiDocument } from "./openapi.ts";
 * import assert from "node:assert/strict";
 *
 * const document = openApiDocument();
 * assert.equal(document.openapi, "3.1.0");
 * assert.ok(document.paths["/api/jobs"]?.post);
 * assert.deepEqual(
 *   document.paths["/api/jobs/{id}"]?.get?.responses["200"],
 *   { description: "The job.", content: { "application/json": { schema: { $ref: "#/components/schemas/Job" } } } },
 * );
 * ```
 */
export function openApiDocument(): OpenApiDocument {
  if (built) return built;
  const names = new Map<unknown, string>(
    Object.entries(NAMED_SCHEMAS).map(([name, schema]) => [schema, name]),
  );
  const document: OpenApiDocument = {
    openapi: "3.1.0",
    info: {
      title: "Quillflow",
      version: denoJson.version,
      description: DESCRIPTION,
    },
    tags: [
      { name: "Jobs", description: "Start, read, list and cancel jobs." },
      { name: "Events", description: "Follow a job as it runs (Server-Sent Events)." },
      { name: "Compatibility", description: "The original example's routes, for its clients." },
      { name: "MCP", description: "The Model Context Protocol endpoint, for agents." },
      { name: "Service", description: "Health, metrics, this document and the pages." },
    ],
    security: API_SECURITY,
    paths: withRefs(PATHS, names) as Record<string, OpenApiPathItem>,
    components: {
      schemas: Object.fromEntries(
        Object.entries(NAMED_SCHEMAS).map(([name, schema]) => [
          name,
          withRefs(schema, names, true),
        ]),
      ),
      responses: withRefs(RESPONSES, names) as Record<string, OpenApiResponse>,
      parameters: withRefs(PARAMETERS, names) as Record<string, OpenApiParameter>,
      headers: HEADERS,
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description: "`API_TOKEN`, when the service is started with one.",
        },
        streamToken: {
          type: "apiKey",
          in: "query",
          name: "token",
          description: "A job's `streamToken`: opens that job's stream and nothing else.",
        },
      },
    },
  };
  built = document;
  return document;
}
