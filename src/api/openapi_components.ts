/**
 * The OpenAPI document's shared components (responses, headers, parameters), the references
 * to them, and the security alternatives that operations name.
 *
 * @module
 */

import { ErrorSchema, JobIdSchema } from "./api_schema.ts";
import type { JsonSchema } from "../core/json_schema.ts";
import type {
  OpenApiHeader,
  OpenApiMediaType,
  OpenApiParameter,
  OpenApiRef,
  OpenApiResponse,
} from "./openapi_types.ts";

/** The media type of JSON bodies. */
export const JSON_TYPE = "application/json";
/** The media type of event streams. */
export const SSE_TYPE = "text/event-stream";

/** A reference to a component of the document. */
export const ref = (kind: "responses" | "parameters" | "headers", name: string): OpenApiRef => ({
  $ref: `#/components/${kind}/${name}`,
});

/** A JSON body of this schema. */
export const json = (schema: JsonSchema): Record<string, OpenApiMediaType> => ({
  [JSON_TYPE]: { schema },
});

/** An error response: the error body, described, with these headers. */
export const errorOf = (
  description: string,
  headers?: Record<string, OpenApiRef>,
): OpenApiResponse => ({
  description,
  ...(headers ? { headers } : {}),
  content: json(ErrorSchema),
});

/** The responses operations share, by component name. */
export const RESPONSES: Record<string, OpenApiResponse> = {
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

/** The response headers operations share, by component name. */
export const HEADERS: Record<string, OpenApiHeader> = {
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

/** The parameters operations share, by component name. */
export const PARAMETERS: Record<string, OpenApiParameter> = {
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
export const API_SECURITY = [{ bearerAuth: [] }, {}];
/** A job's stream also opens with its `streamToken`. */
export const STREAM_SECURITY = [{ bearerAuth: [] }, { streamToken: [] }, {}];
/** Routes that never need a token. */
export const PUBLIC: Record<string, string[]>[] = [];

/** A reference to a shared response. */
export const R = (name: string) => ref("responses", name);
/** A reference to a shared parameter. */
export const P = (name: string) => ref("parameters", name);
