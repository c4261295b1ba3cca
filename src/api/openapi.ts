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
import {
  API_SCHEMAS,
  CompatMessageSchema,
  ErrorSchema,
  HealthSchema,
  JOB_EVENT_DATA,
  JobIdSchema,
  JobListSchema,
  JobSchema,
  JobSubmitRequestSchema,
  JsonRpcErrorSchema,
  JsonRpcMessageSchema,
  ShutdownEventDataSchema,
  StartJobResponseSchema,
  SubmitRequestSchema,
} from "./api_schema.ts";
import type { JsonSchema } from "../core/json_schema.ts";

/** A reference to a component. */
export interface OpenApiRef {
  $ref: string;
}

/** A parameter of an operation. */
export interface OpenApiParameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  description?: string;
  schema: JsonSchema | OpenApiRef;
}

/** A response header. */
export interface OpenApiHeader {
  description: string;
  required?: boolean;
  schema: JsonSchema;
}

/** One media type of a body. */
export interface OpenApiMediaType {
  schema?: JsonSchema | OpenApiRef;
  /** Each event of a `text/event-stream` body, as OpenAPI 3.2's `itemSchema`. */
  "x-itemSchema"?: JsonSchema | OpenApiRef;
}

/** One response of an operation. */
export interface OpenApiResponse {
  description: string;
  headers?: Record<string, OpenApiHeader | OpenApiRef>;
  content?: Record<string, OpenApiMediaType>;
}

/** One method on one path. */
export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  parameters?: (OpenApiParameter | OpenApiRef)[];
  requestBody?: {
    required: boolean;
    description?: string;
    content: Record<string, OpenApiMediaType>;
  };
  responses: Record<string, OpenApiResponse | OpenApiRef>;
  security?: Record<string, string[]>[];
}

/** The methods the service routes. */
export type OpenApiMethod = "get" | "post" | "delete";

/** The operations of one path. */
export type OpenApiPathItem = Partial<Record<OpenApiMethod, OpenApiOperation>>;

/** The whole document. */
export interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string; description: string };
  tags: { name: string; description: string }[];
  security: Record<string, string[]>[];
  paths: Record<string, OpenApiPathItem>;
  components: {
    schemas: Record<string, unknown>;
    responses: Record<string, OpenApiResponse>;
    parameters: Record<string, OpenApiParameter>;
    headers: Record<string, OpenApiHeader>;
    securitySchemes: Record<string, unknown>;
  };
}

const JSON_TYPE = "application/json";
const SSE_TYPE = "text/event-stream";

const ref = (kind: "responses" | "parameters" | "headers", name: string): OpenApiRef => ({
  $ref: `#/components/${kind}/${name}`,
});

const json = (schema: JsonSchema): Record<string, OpenApiMediaType> => ({
  [JSON_TYPE]: { schema },
});

/** An SSE event whose `data` is JSON of `data`'s schema. */
function sseEvent(
  event: string,
  data: JsonSchema,
  id: "required" | "none",
  description?: string,
): JsonSchema {
  return {
    type: "object",
    ...(description ? { description } : {}),
    properties: {
      event: { const: event },
      ...(id === "required"
        ? {
          id: {
            type: "string",
            pattern: "^[1-9][0-9]*$",
            description: "The event's position in the job's log: 1, 2, 3, …",
          },
        }
        : {
          id: {
            type: "string",
            description: "Sets no id of its own; `EventSource` keeps the last one it saw.",
          },
        }),
      data: { type: "string", contentMediaType: JSON_TYPE, contentSchema: data },
    },
    required: id === "required" ? ["event", "id", "data"] : ["event", "data"],
  };
}

/** An event of a job's native stream. */
const JobStreamMessageSchema: JsonSchema = {
  description: "An event of a job's stream: its type as the SSE `event`, its position in the " +
    "job's log as the SSE `id`, and its data as JSON.",
  oneOf: [
    ...Object.entries(JOB_EVENT_DATA).map(([event, data]) => sseEvent(event, data, "required")),
    sseEvent("shutdown", ShutdownEventDataSchema, "none"),
  ],
};

/** `data` of a stream of several jobs: the job's event data, with its job and event id. */
function withJob(data: JsonSchema): JsonSchema {
  if (data.oneOf) return { ...data, oneOf: data.oneOf.map(withJob) };
  return {
    ...data,
    properties: {
      job: JobIdSchema,
      eventId: {
        type: "integer",
        minimum: 1,
        description: "The event's id in its job's log: the `id` of that job's own stream.",
      },
      ...data.properties,
    },
    required: ["job", "eventId", ...(data.required ?? [])],
  };
}

/** An event of the stream of several jobs: the job's event, a cursor as its id. */
const JobsStreamMessageSchema: JsonSchema = {
  description: "An event of one of the jobs: its type as the SSE `event`, a cursor that resumes " +
    "every job of the stream as the SSE `id`, and its data as JSON with `job` and `eventId`.",
  oneOf: [
    ...Object.entries(JOB_EVENT_DATA).map(([event, data]) => ({
      type: "object",
      properties: {
        event: { const: event },
        id: {
          type: "string",
          pattern: "^[A-Za-z0-9_-]+$",
          description: "An opaque cursor: send it back as `Last-Event-ID` (or `?since=`) to " +
            "resume every job of the stream after this event.",
        },
        data: { type: "string", contentMediaType: JSON_TYPE, contentSchema: withJob(data) },
      },
      required: ["event", "id", "data"],
    } as const satisfies JsonSchema)),
    sseEvent("shutdown", ShutdownEventDataSchema, "none"),
  ],
};

/** A message of the original example's stream: data only, no `event` or `id`. */
const CompatStreamMessageSchema: JsonSchema = {
  description: "A message of the original example's stream: data only.",
  ...sseEvent("message", CompatMessageSchema, "none"),
};

/** A message of the MCP transport's event streams. */
const McpStreamMessageSchema: JsonSchema = sseEvent("message", JsonRpcMessageSchema, "none");

const NAMED_SCHEMAS: Record<string, JsonSchema> = {
  ...API_SCHEMAS,
  JobStreamMessage: JobStreamMessageSchema,
  JobsStreamMessage: JobsStreamMessageSchema,
  CompatStreamMessage: CompatStreamMessageSchema,
};

const errorOf = (description: string, headers?: Record<string, OpenApiRef>): OpenApiResponse => ({
  description,
  ...(headers ? { headers } : {}),
  content: json(ErrorSchema),
});

const RESPONSES: Record<string, OpenApiResponse> = {
  Unauthorized: errorOf(
    "`unauthorized`: the service requires `API_TOKEN` and the request has no valid " +
      "`Authorization: Bearer <token>` (nor, on a job's stream, a valid `?token=`).",
    { "WWW-Authenticate": ref("headers", "WWW-Authenticate") },
  ),
  JobNotFound: errorOf("`not_found`: no job has this id (or it was evicted after `JOB_TTL`)."),
  RouteNotFound: errorOf(
    "`not_found`: no route has this path. Answered for any path this document does not list.",
  ),
  MethodNotAllowed: errorOf(
    "`method_not_allowed`: the path does not take this method. Answered for any method this " +
      "document does not list on a path; `Allow` lists those it does (and `HEAD` with `GET`).",
    { Allow: ref("headers", "Allow") },
  ),
  BadTopic: errorOf(
    "The body holds no usable topic: `missing_topic`, `invalid_topic` (empty, too long, " +
      "control characters, unpaired surrogate, a file), `invalid_json`, `invalid_utf8`, " +
      "`bad_form` or `bad_body`.",
  ),
  BadSubmit: errorOf(
    "The body holds no usable topic: `missing_topic`, `invalid_topic` (empty, too long, " +
      "control characters, unpaired surrogate, a file), `invalid_json`, `invalid_utf8`, " +
      "`bad_form` or `bad_body`; or the `Idempotency-Key` is malformed " +
      "(`invalid_idempotency_key`); or the `webhook` is not an http(s) URL without credentials " +
      "(`invalid_webhook`), its origin is not in `WEBHOOK_ALLOWED_ORIGINS` or per-job webhooks " +
      "are off (`webhook_origin_not_allowed`), its host is not public " +
      "(`webhook_destination_refused`) or has no address (`webhook_unresolvable`). A refused " +
      "request leaves its `Idempotency-Key` unused.",
  ),
  IdempotencyKeyInUse: errorOf(
    "`idempotency_key_in_use`: the key's first request is still being handled. Send it " +
      "again after `Retry-After`: it gets that request's answer.",
    { "Retry-After": ref("headers", "Retry-After") },
  ),
  IdempotencyKeyReused: errorOf(
    "`idempotency_key_reused`: the key was used within `IDEMPOTENCY_TTL` with another body " +
      "(another topic after trimming, or another `webhook`).",
  ),
  PayloadTooLarge: errorOf("`body_too_large`: the body is larger than `MAX_BODY_BYTES`."),
  UnsupportedMediaType: errorOf(
    "`unsupported_media_type`: send `application/json`, " +
      "`application/x-www-form-urlencoded` or `multipart/form-data`.",
  ),
  QueueFull: errorOf(
    "`queue_full`: `MAX_QUEUED_JOBS` jobs are already waiting. Try again after `Retry-After`.",
    { "Retry-After": ref("headers", "Retry-After") },
  ),
  Unavailable: errorOf(
    "`shutting_down` (the service is stopping: try another instance or again shortly) or " +
      "`store_unavailable` (the job store, such as Redis, does not answer).",
    { "Retry-After": ref("headers", "Retry-After") },
  ),
  Internal: errorOf("`internal`: an unexpected error, logged by the service."),
  CorsPreflight: {
    description: "A CORS preflight (`OPTIONS` with `Origin` and " +
      "`Access-Control-Request-Method`) from an origin in `CORS_ORIGINS`, on any path.",
  },
  CorsForbidden: errorOf(
    "`cors_origin_not_allowed`: a CORS preflight from an origin not in `CORS_ORIGINS`.",
  ),
};

const HEADERS: Record<string, OpenApiHeader> = {
  "Retry-After": {
    description: "Seconds to wait before trying again.",
    required: true,
    schema: { type: "string", pattern: "^[0-9]+$" },
  },
  Allow: {
    description: "The methods the path takes.",
    required: true,
    schema: { type: "string" },
  },
  "Idempotent-Replayed": {
    description: "`true` when the answer is the first answer to this `Idempotency-Key`, " +
      "replayed: no job was created.",
    schema: { type: "string", enum: ["true"] },
  },
  "WWW-Authenticate": {
    description: 'The scheme to use: `Bearer realm="quillflow"`.',
    required: true,
    schema: { type: "string" },
  },
};

const PARAMETERS: Record<string, OpenApiParameter> = {
  JobId: {
    name: "id",
    in: "path",
    required: true,
    description: "The job's id; anything else is a `404`.",
    schema: JobIdSchema,
  },
  LastEventId: {
    name: "Last-Event-ID",
    in: "header",
    description: "Resume after this event id (browsers send it when they reconnect): only " +
      "later events are sent. `0` or absent: from the first. Wins over `?lastEventId=`.",
    schema: { type: "string", pattern: "^\\s*[0-9]{1,15}\\s*$" },
  },
  LastEventIdQuery: {
    name: "lastEventId",
    in: "query",
    description: "The same as the `Last-Event-ID` header, for clients that cannot set headers.",
    schema: { type: "string", pattern: "^\\s*[0-9]{1,15}\\s*$" },
  },
  Cursor: {
    name: "Last-Event-ID",
    in: "header",
    description: "Resume after this frame: the `id` of a frame of the same stream (browsers send " +
      "it when they reconnect). Every job resumes at once. Wins over `?since=` and over " +
      "`:<n>` in `jobs`.",
    schema: { type: "string", pattern: "^[A-Za-z0-9_-]+$" },
  },
  CursorQuery: {
    name: "since",
    in: "query",
    description: "The same as the `Last-Event-ID` header, for clients that cannot set headers.",
    schema: { type: "string", pattern: "^[A-Za-z0-9_-]+$" },
  },
  IdempotencyKey: {
    name: "Idempotency-Key",
    in: "header",
    description: "Makes the submit safe to send again (IETF httpapi draft): the same key and " +
      "body within `IDEMPOTENCY_TTL` get the first answer again, with `Idempotent-Replayed: " +
      "true`, and make no second job. 1 to 255 printable ASCII characters, as a quoted " +
      'string (`"order-17"`) or bare (`order-17`, the same key). Shared by every caller: use ' +
      "unique keys, such as UUIDs.",
    schema: { type: "string", pattern: "^[\\x20-\\x7e]{1,257}$" },
  },
  StreamToken: {
    name: "token",
    in: "query",
    description: "The job's `streamToken`, in place of the bearer token (see the job snapshot).",
    schema: { type: "string" },
  },
  McpSessionId: {
    name: "Mcp-Session-Id",
    in: "header",
    description: "The session the `initialize` response named; every later request sends it.",
    schema: { type: "string" },
  },
  McpProtocolVersion: {
    name: "MCP-Protocol-Version",
    in: "header",
    description: "The protocol version agreed at `initialize`.",
    schema: { type: "string" },
  },
};

/** Security: open unless `API_TOKEN` is set, hence the empty alternative. */
const API_SECURITY = [{ bearerAuth: [] }, {}];
const STREAM_SECURITY = [{ bearerAuth: [] }, { streamToken: [] }, {}];
const PUBLIC: Record<string, string[]>[] = [];

const R = (name: string) => ref("responses", name);
const P = (name: string) => ref("parameters", name);

const SUBMIT_BODY: OpenApiOperation["requestBody"] = {
  required: true,
  description: "At most `MAX_BODY_BYTES` (16 KiB by default), UTF-8.",
  content: {
    [JSON_TYPE]: { schema: SubmitRequestSchema },
    "application/x-www-form-urlencoded": { schema: SubmitRequestSchema },
    "multipart/form-data": { schema: SubmitRequestSchema },
  },
};

const SUBMIT_ERRORS = {
  "400": R("BadTopic"),
  "401": R("Unauthorized"),
  "413": R("PayloadTooLarge"),
  "415": R("UnsupportedMediaType"),
  "429": R("QueueFull"),
  "500": R("Internal"),
  "503": R("Unavailable"),
};

const SSE_HEADERS_NOTE = "Sent with `Cache-Control: no-cache` and `X-Accel-Buffering: no`, so " +
  "proxies pass events on at once.";

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

const PATHS: Record<string, OpenApiPathItem> = {
  "/api/jobs": {
    post: {
      operationId: "submitJob",
      summary: "Start a job",
      description: "Queues a job for the topic and answers at once; follow it on " +
        "`GET /api/jobs/{id}/events`. At most `MAX_CONCURRENT_JOBS` run at once and " +
        "`MAX_QUEUED_JOBS` wait, first come first served; beyond that, `429`.",
      tags: ["Jobs"],
      security: API_SECURITY,
      parameters: [P("IdempotencyKey")],
      requestBody: {
        ...SUBMIT_BODY,
        content: {
          [JSON_TYPE]: { schema: JobSubmitRequestSchema },
          "application/x-www-form-urlencoded": { schema: JobSubmitRequestSchema },
          "multipart/form-data": { schema: JobSubmitRequestSchema },
        },
      },
      responses: {
        "202": {
          description: "Accepted: the job is stored and queued; or, with `Idempotent-Replayed`, " +
            "the first answer to the `Idempotency-Key` again (the job as it was then).",
          headers: {
            Location: {
              description: "The job's URL: `/api/jobs/{id}`.",
              required: true,
              schema: { type: "string" },
            },
            "Idempotent-Replayed": ref("headers", "Idempotent-Replayed"),
          },
          content: json(JobSchema),
        },
        ...SUBMIT_ERRORS,
        "400": R("BadSubmit"),
        "409": R("IdempotencyKeyInUse"),
        "422": R("IdempotencyKeyReused"),
      },
    },
    get: {
      operationId: "listJobs",
      summary: "List jobs",
      description: "The newest jobs kept, with their articles.",
      tags: ["Jobs"],
      security: API_SECURITY,
      parameters: [{
        name: "limit",
        in: "query",
        description: "How many, from 1 to 100.",
        schema: { type: "integer", minimum: 1, maximum: 100 },
      }],
      responses: {
        "200": { description: "The jobs, newest first.", content: json(JobListSchema) },
        "400": errorOf("`invalid_limit`: `limit` is not an integer from 1 to 100."),
        "401": R("Unauthorized"),
        "500": R("Internal"),
        "503": R("Unavailable"),
      },
    },
  },
  "/api/jobs/{id}": {
    get: {
      operationId: "getJob",
      summary: "Read a job",
      tags: ["Jobs"],
      security: API_SECURITY,
      parameters: [P("JobId")],
      responses: {
        "200": { description: "The job.", content: json(JobSchema) },
        "401": R("Unauthorized"),
        "404": R("JobNotFound"),
        "500": R("Internal"),
        "503": R("Unavailable"),
      },
    },
    delete: {
      operationId: "cancelJob",
      summary: "Cancel a job",
      description: "Cancels a queued or running job; a running one's LLM call is aborted. Its " +
        "stream ends with a `cancelled` event.",
      tags: ["Jobs"],
      security: API_SECURITY,
      parameters: [P("JobId")],
      responses: {
        "202": { description: "Cancelled; the job as it now is.", content: json(JobSchema) },
        "401": R("Unauthorized"),
        "404": R("JobNotFound"),
        "409": errorOf("`job_finished`: the job has already finished."),
        "500": R("Internal"),
        "503": R("Unavailable"),
      },
    },
  },
  "/api/jobs/{id}/events": {
    get: {
      operationId: "streamJobEvents",
      summary: "Follow a job's events",
      description: "Server-Sent Events: the job's log from the start (or after " +
        "`Last-Event-ID`), then live, until its terminal event (`complete`, `error` or " +
        "`cancelled`), after which the stream ends; nothing follows a terminal event. Any " +
        "number of clients may follow one job. The stream opens with `retry: 1000`; an idle " +
        "stream gets a `: ping` comment every `HEARTBEAT_MS`. A client that reads nothing for " +
        "`SSE_STALL_MS` is dropped and may resume with `Last-Event-ID`. When the service " +
        `stops, the stream ends with a \`shutdown\` event. ${SSE_HEADERS_NOTE}`,
      tags: ["Events"],
      security: STREAM_SECURITY,
      parameters: [P("JobId"), P("LastEventId"), P("LastEventIdQuery"), P("StreamToken")],
      responses: {
        "200": {
          description: "The event stream.",
          content: {
            [SSE_TYPE]: {
              schema: { type: "string" },
              "x-itemSchema": JobStreamMessageSchema,
            },
          },
        },
        "400": errorOf(
          "`invalid_last_event_id`: `Last-Event-ID` is not an event id of this job.",
        ),
        "401": R("Unauthorized"),
        "404": R("JobNotFound"),
        "500": R("Internal"),
        "503": R("Unavailable"),
      },
    },
  },
  "/api/events": {
    get: {
      operationId: "streamEvents",
      summary: "Follow many jobs through one stream",
      description: "Server-Sent Events of several jobs through one connection (browsers allow " +
        "six per origin). With `jobs`, each listed job's log from the start (or after its " +
        "`:<n>`), then live, interleaved; the stream ends once every listed job has ended. " +
        "Without `jobs`, every job's events from the moment of connecting, new jobs included; " +
        "the stream stays open. Each frame's `id` is a cursor: `Last-Event-ID` (or `?since=`) " +
        "with it resumes every job at once, on any instance, nothing missed or repeated. " +
        "Heartbeats, stall drops and the `shutdown` event are those of a job's stream. With " +
        "`API_TOKEN`, only the bearer token opens it (a `streamToken` opens one job's stream). " +
        SSE_HEADERS_NOTE,
      tags: ["Events"],
      security: API_SECURITY,
      parameters: [
        {
          name: "jobs",
          in: "query",
          description: "1 to 100 job ids separated by commas, each optionally followed by " +
            "`:<n>` to start after its event `n`. Absent: every job, from now.",
          schema: { type: "string" },
        },
        P("Cursor"),
        P("CursorQuery"),
      ],
      responses: {
        "200": {
          description: "The event stream.",
          content: {
            [SSE_TYPE]: {
              schema: { type: "string" },
              "x-itemSchema": JobsStreamMessageSchema,
            },
          },
        },
        "400": errorOf(
          "`invalid_jobs` (an empty list, more than 100 ids, an id that is not a job id, a job " +
            "listed twice, a bad `:<n>`), `invalid_last_event_id` (an `:<n>` past the job's " +
            "last event) or `invalid_cursor` (not a cursor of this stream, or ahead of the " +
            "store: a memory store emptied by a restart).",
        ),
        "401": R("Unauthorized"),
        "404": errorOf("`not_found`: a listed job is unknown; the message names it."),
        "500": R("Internal"),
        "501": errorOf(
          "`not_supported`: without `jobs`, on a job store that keeps no order of every job's " +
            "events (all of Quillflow's own do).",
        ),
        "503": R("Unavailable"),
      },
    },
  },
  "/start-job": {
    post: {
      operationId: "startJobCompat",
      summary: "Start a job (the original example's route)",
      description: "The original example's route, kept for its clients: the same as " +
        "`POST /api/jobs` with the original answer.",
      tags: ["Compatibility"],
      security: API_SECURITY,
      requestBody: SUBMIT_BODY,
      responses: {
        "200": { description: "Started.", content: json(StartJobResponseSchema) },
        ...SUBMIT_ERRORS,
      },
    },
  },
  "/progress/{id}": {
    get: {
      operationId: "streamProgressCompat",
      summary: "Follow a job (the original example's stream)",
      description: "The original example's stream: data-only messages from the start, no ids. " +
        "It stays open after its last message for `COMPAT_HOLD_MS`, with heartbeats, because " +
        "the original page reports any close as a lost connection. An unknown job gets one " +
        `message, \`{"error": "Job not found"}\`, with \`200\`, as the original did. ` +
        SSE_HEADERS_NOTE,
      tags: ["Compatibility"],
      security: STREAM_SECURITY,
      parameters: [{
        name: "id",
        in: "path",
        required: true,
        description: "The job's id.",
        schema: { type: "string" },
      }, P("StreamToken")],
      responses: {
        "200": {
          description: "The message stream.",
          content: {
            [SSE_TYPE]: {
              schema: { type: "string" },
              "x-itemSchema": CompatStreamMessageSchema,
            },
          },
        },
        "401": R("Unauthorized"),
        "500": R("Internal"),
        "503": R("Unavailable"),
      },
    },
  },
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
  "/mcp": {
    post: mcpOperation("mcpPost", "Send MCP messages", {
      "200": {
        description: "The JSON-RPC response(s), as JSON or as an event stream of messages; " +
          "an `initialize` response names the session in `Mcp-Session-Id`.",
        headers: {
          "Mcp-Session-Id": {
            description: "The new session's id, on the `initialize` response.",
            schema: { type: "string" },
          },
        },
        content: {
          [JSON_TYPE]: {
            schema: {
              oneOf: [JsonRpcMessageSchema, { type: "array", items: JsonRpcMessageSchema }],
            },
          },
          [SSE_TYPE]: { schema: { type: "string" }, "x-itemSchema": McpStreamMessageSchema },
        },
      },
      "202": { description: "Accepted: the body held only notifications or responses." },
      "413": { description: "The body is too large.", content: json(JsonRpcErrorSchema) },
      "415": {
        description: "The body is not `application/json`.",
        content: json(JsonRpcErrorSchema),
      },
    }),
    get: mcpOperation("mcpGet", "Open the session's event stream", {
      "200": {
        description: "Messages the server sends outside any request.",
        content: {
          [SSE_TYPE]: { schema: { type: "string" }, "x-itemSchema": McpStreamMessageSchema },
        },
      },
      "409": {
        description: "The session already has this stream open.",
        content: json(JsonRpcErrorSchema),
      },
    }),
    delete: mcpOperation("mcpDelete", "End the session", {
      "200": { description: "The session has ended." },
    }),
  },
};

function mcpOperation(
  operationId: string,
  summary: string,
  responses: Record<string, OpenApiResponse>,
): OpenApiOperation {
  const either = { oneOf: [ErrorSchema, JsonRpcErrorSchema] };
  return {
    operationId,
    summary,
    description:
      "The Model Context Protocol's Streamable HTTP transport: tools `write_article`, `start_article`, `get_job`, `list_jobs`, " +
      "`cancel_job` and each job's article as a resource. Use an MCP client; a session " +
      "starts with an `initialize` POST. Browser origins other than loopback ones and " +
      "`CORS_ORIGINS` are refused.",
    tags: ["MCP"],
    security: API_SECURITY,
    parameters: [P("McpSessionId"), P("McpProtocolVersion")],
    ...(operationId === "mcpPost"
      ? {
        requestBody: {
          required: true,
          content: json({
            oneOf: [JsonRpcMessageSchema, { type: "array", items: JsonRpcMessageSchema }],
          }),
        },
      }
      : {}),
    responses: {
      ...responses,
      "400": {
        description: "`session_required` (no `Mcp-Session-Id` on a request that is not an " +
          "`initialize`), or the transport's JSON-RPC error for a malformed message.",
        content: json(either),
      },
      "401": R("Unauthorized"),
      "403": errorOf("`origin_not_allowed`: a browser origin that may not call MCP."),
      "404": {
        description: "`session_not_found`: the session ended or the service restarted; " +
          "initialize a new one.",
        content: json(either),
      },
      "406": {
        description: "`Accept` must list `application/json` and `text/event-stream`.",
        content: json(JsonRpcErrorSchema),
      },
      "500": { description: "An unexpected error.", content: json(either) },
      "503": R("Unavailable"),
    },
  };
}

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
a method it does not list on a path gets \`405\` with \`Allow\`. Each \`GET\` also answers \`HEAD\`.`;

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
