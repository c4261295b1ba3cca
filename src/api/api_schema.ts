/**
 * The shapes of the HTTP API as JSON Schema values: the job snapshot, errors, every event's
 * `data` and the compatibility routes' messages. They are the one source of truth for both the
 * OpenAPI document (`src/openapi.ts` names each of {@linkcode API_SCHEMAS} as a component) and
 * the client's types (`src/client.ts`, through {@linkcode FromSchema}). No runtime code here.
 *
 * @module
 */

import type { FromSchema, JsonSchema } from "../core/json_schema.ts";

const PERCENT = { type: "integer", minimum: 0, maximum: 100 } as const;

/** A job's id: a time-ordered UUID (version 7). */
export const JobIdSchema = {
  type: "string",
  format: "uuid",
  description: "A time-ordered UUID (version 7); its first 48 bits are the creation time in ms.",
  examples: ["0190f5a2-7c1e-7b3a-9d2e-5f6a7b8c9d0e"],
} as const satisfies JsonSchema;

/** Where a job is in its life; the last three never change. */
export const JobStatusSchema = {
  type: "string",
  enum: ["queued", "running", "completed", "failed", "cancelled"],
  description: "`completed`, `failed` and `cancelled` are final.",
} as const satisfies JsonSchema;

/** The workflow's steps, in order. */
export const StepNameSchema = {
  type: "string",
  enum: ["outline", "content", "style"],
  description: "The workflow's steps, in order.",
} as const satisfies JsonSchema;

const TOKENS = { type: "integer", minimum: 0 } as const;
const DOLLARS = {
  type: ["number", "null"],
  minimum: 0,
  description: "US dollars at the model's price in `LLM_PRICES`; `null` when the model has no " +
    "price there, or the usage is unknown: never guessed.",
} as const;

/** A step's tokens and what they cost. */
export const StepUsageSchema = {
  type: "object",
  description: "A step's tokens as the LLM server reported them, summed over every request of " +
    "the step, retries included.",
  properties: {
    promptTokens: TOKENS,
    completionTokens: TOKENS,
    totalTokens: TOKENS,
    costUsd: DOLLARS,
  },
  required: ["promptTokens", "completionTokens", "totalTokens", "costUsd"],
} as const satisfies JsonSchema;

const STEP_USAGE = {
  anyOf: [StepUsageSchema, { type: "null" }],
  description: "`null` while no request of the step reported usage.",
} as const;

/** What a job's LLM requests used. */
export const JobUsageSchema = {
  type: "object",
  description: "Tokens as the LLM server reported them, summed over every request, retries " +
    "included (a retried request is paid for too), in all and by step.",
  properties: {
    promptTokens: TOKENS,
    completionTokens: TOKENS,
    totalTokens: TOKENS,
    byStep: {
      type: "object",
      properties: { outline: STEP_USAGE, content: STEP_USAGE, style: STEP_USAGE },
      required: ["outline", "content", "style"],
    },
  },
  required: ["promptTokens", "completionTokens", "totalTokens", "byStep"],
} as const satisfies JsonSchema;

/** When a step ran, and how many requests it made. */
export const StepTimingSchema = {
  type: "object",
  description: "When a step ran, and how many LLM requests it made (every attempt counts).",
  properties: {
    startedAt: { type: "string", format: "date-time" },
    finishedAt: {
      type: ["string", "null"],
      format: "date-time",
      description: "`null` while it runs.",
    },
    durationMs: { type: ["number", "null"], minimum: 0, description: "`null` while it runs." },
    attempts: { type: "integer", minimum: 0 },
  },
  required: ["startedAt", "finishedAt", "durationMs", "attempts"],
} as const satisfies JsonSchema;

/** Each started step's timing. */
export const StepTimingsSchema = {
  type: "object",
  description: "The timing of each step that has started.",
  properties: { outline: StepTimingSchema, content: StepTimingSchema, style: StepTimingSchema },
} as const satisfies JsonSchema;

const USAGE = {
  anyOf: [JobUsageSchema, { type: "null" }],
  description: "`null` while no request reported usage: a server that counts nothing, or the " +
    "offline demo writer.",
} as const;

/** A job as the API shows it. */
export const JobSchema = {
  type: "object",
  description: "A job's snapshot. Times are ISO-8601 in UTC.",
  properties: {
    id: JobIdSchema,
    topic: { type: "string", description: "The topic, trimmed." },
    status: JobStatusSchema,
    progress: { ...PERCENT, description: "Never decreases; 100 only once completed." },
    step: {
      anyOf: [StepNameSchema, { type: "null" }],
      description: "The step running or last run; `null` before the first.",
    },
    provider: { type: "string", description: "`offline` (the demo writer) or `openai`." },
    model: {
      type: ["string", "null"],
      description: "The model asked; `null` for the offline demo writer.",
    },
    sections: {
      type: "array",
      items: { type: "string" },
      description: "The outline's section titles, once planned.",
    },
    article: { type: "string", description: "The article in Markdown, once completed." },
    error: { type: "string", description: "Why the job failed, once failed." },
    createdAt: { type: "string", format: "date-time" },
    startedAt: { type: "string", format: "date-time" },
    finishedAt: { type: "string", format: "date-time" },
    lastEventId: {
      type: "integer",
      minimum: 0,
      description: "Id of the newest event in the job's log (`Last-Event-ID` resumes after one).",
    },
    usage: USAGE,
    costUsd: DOLLARS,
    steps: StepTimingsSchema,
    streamToken: {
      type: "string",
      description: "Only when the service requires `API_TOKEN`: opens this job's event stream " +
        "and nothing else, as `?token=` (for `EventSource`, which cannot send headers).",
    },
  },
  required: [
    "id",
    "topic",
    "status",
    "progress",
    "step",
    "provider",
    "model",
    "createdAt",
    "lastEventId",
    "usage",
    "costUsd",
    "steps",
  ],
} as const satisfies JsonSchema;

/** The body of `GET /api/jobs`. */
export const JobListSchema = {
  type: "object",
  description: "Jobs kept, newest first.",
  properties: { jobs: { type: "array", items: JobSchema } },
  required: ["jobs"],
} as const satisfies JsonSchema;

/** The body of a submit. */
export const SubmitRequestSchema = {
  type: "object",
  description: "The article's topic. Forms (`application/x-www-form-urlencoded`, " +
    "`multipart/form-data`) carry it as a `topic` field.",
  properties: {
    topic: {
      type: "string",
      description: "1 to 500 characters once trimmed; no control characters but newline and tab.",
      examples: ["The history of tea"],
    },
  },
  required: ["topic"],
} as const satisfies JsonSchema;

/** The body of `POST /api/jobs`: a submit, with the job's own webhook. */
export const JobSubmitRequestSchema = {
  type: "object",
  description: "The article's topic, and optionally the job's own webhook. Forms " +
    "(`application/x-www-form-urlencoded`, `multipart/form-data`) carry them as fields.",
  properties: {
    topic: SubmitRequestSchema.properties.topic,
    webhook: {
      type: "string",
      format: "uri",
      description: "An http(s) URL told of the job's end (a signed Standard Webhook), whose " +
        "origin is in `WEBHOOK_ALLOWED_ORIGINS` and whose host is public (unless " +
        "`WEBHOOK_ALLOW_PRIVATE=1`). Refused when per-job webhooks are off.",
      examples: ["https://app.example.com/hooks/42"],
    },
  },
  required: ["topic"],
} as const satisfies JsonSchema;

/** Every `code` an error body may carry. */
export const ErrorCodeSchema = {
  type: "string",
  description: "Stable, machine-readable; the `message` is for people.",
  enum: [
    "bad_body",
    "bad_form",
    "body_too_large",
    "cors_origin_not_allowed",
    "idempotency_key_in_use",
    "idempotency_key_reused",
    "internal",
    "invalid_cursor",
    "invalid_idempotency_key",
    "invalid_jobs",
    "invalid_json",
    "invalid_last_event_id",
    "invalid_limit",
    "invalid_topic",
    "invalid_utf8",
    "invalid_webhook",
    "job_finished",
    "method_not_allowed",
    "missing_topic",
    "not_found",
    "not_supported",
    "origin_not_allowed",
    "queue_full",
    "session_not_found",
    "session_required",
    "shutting_down",
    "store_unavailable",
    "unauthorized",
    "unsupported_media_type",
    "webhook_destination_refused",
    "webhook_origin_not_allowed",
    "webhook_unresolvable",
  ],
} as const satisfies JsonSchema;

/** Every error response of the service's own routes. */
export const ErrorSchema = {
  type: "object",
  description: 'Every error the service answers: `{"error": {"code", "message"}}`.',
  properties: {
    error: {
      type: "object",
      properties: {
        code: ErrorCodeSchema,
        message: { type: "string", description: "What is wrong, for people." },
      },
      required: ["code", "message"],
    },
  },
  required: ["error"],
} as const satisfies JsonSchema;

/** The body of `/healthz`. */
export const HealthSchema = {
  type: "object",
  description: "`ok`, or `degraded` with the troubled parts, such as " +
    '`{"status": "degraded", "redis": "unreachable"}`.',
  properties: { status: { type: "string", enum: ["ok", "degraded"] } },
  required: ["status"],
  additionalProperties: { type: "string" },
} as const satisfies JsonSchema;

/** The answer of the original example's `POST /start-job`. */
export const StartJobResponseSchema = {
  type: "object",
  description: "The original example's answer: the job's id and topic.",
  properties: {
    job_id: JobIdSchema,
    topic: { type: "string" },
    status: { const: "started" },
  },
  required: ["job_id", "topic", "status"],
} as const satisfies JsonSchema;

/** A JSON-RPC 2.0 message, as MCP exchanges them; the MCP specification has the details. */
export const JsonRpcMessageSchema = {
  type: "object",
  description: "A JSON-RPC 2.0 request, notification or response of the Model Context Protocol.",
  properties: { jsonrpc: { const: "2.0" } },
  required: ["jsonrpc"],
  additionalProperties: true,
} as const satisfies JsonSchema;

/** The MCP transport's own errors: JSON-RPC error objects. */
export const JsonRpcErrorSchema = {
  type: "object",
  description: "An error of the MCP transport itself, as a JSON-RPC error response.",
  properties: {
    jsonrpc: { const: "2.0" },
    error: {
      type: "object",
      properties: {
        code: { type: "integer" },
        message: { type: "string" },
        data: {},
      },
      required: ["code", "message"],
    },
    id: { type: "null" },
  },
  required: ["jsonrpc", "error", "id"],
} as const satisfies JsonSchema;

// --- The native event stream: each event's `data` ---

/** `status`: the job was queued (again) or started. */
export const StatusEventDataSchema = {
  type: "object",
  description: "The job was queued, queued again after a restart (`resumed`), or started.",
  properties: {
    status: { type: "string", enum: ["queued", "running"] },
    progress: PERCENT,
    resumed: { const: true, description: "Queued again after the service restarted." },
    reason: { type: "string", description: "Why it was queued again." },
  },
  required: ["status", "progress"],
} as const satisfies JsonSchema;

/** `progress` of the outline step: the sections planned. */
export const OutlineProgressSchema = {
  type: "object",
  description: "The outline is planned.",
  properties: {
    step: { const: "outline" },
    progress: PERCENT,
    sections: { type: "array", items: { type: "string" }, minItems: 1 },
  },
  required: ["step", "progress", "sections"],
} as const satisfies JsonSchema;

/** `progress` of the content step: one more section written. */
export const ContentProgressSchema = {
  type: "object",
  description: "One more section is written (sections are written in parallel).",
  properties: {
    step: { const: "content" },
    progress: PERCENT,
    section: { type: "string", description: "The title of the section written." },
    index: { type: "integer", minimum: 0, description: "Its position in the outline." },
    completed: { type: "integer", minimum: 1, description: "Sections written so far." },
    total: { type: "integer", minimum: 1 },
  },
  required: ["step", "progress", "section", "index", "completed", "total"],
} as const satisfies JsonSchema;

/** `progress` of the style step: started or finished. */
export const StyleProgressSchema = {
  type: "object",
  description: "The style pass started or finished.",
  properties: {
    step: { const: "style" },
    progress: PERCENT,
    stage: { type: "string", enum: ["started", "finished"] },
  },
  required: ["step", "progress", "stage"],
} as const satisfies JsonSchema;

/** `progress`: a step moved on. */
export const ProgressEventDataSchema = {
  description: "A step moved on; `step` tells which.",
  oneOf: [OutlineProgressSchema, ContentProgressSchema, StyleProgressSchema],
} as const satisfies JsonSchema;

/** `delta`: text as the LLM writes it. */
export const DeltaEventDataSchema = {
  type: "object",
  description: "Text as it is written, about every 50 ms, per step and (content) section. " +
    "With `reset`, drop what this step (and section) streamed so far: it is written again.",
  properties: {
    step: StepNameSchema,
    index: { type: "integer", minimum: 0, description: "The section, for the content step." },
    text: { type: "string" },
    reset: { const: true },
  },
  required: ["step", "text"],
} as const satisfies JsonSchema;

/** `usage`: a step finished; the job's accounting so far. */
export const UsageEventDataSchema = {
  type: "object",
  description: "A step finished (or was cut short by the job's end, just before `error` or " +
    "`cancelled`): the job's tokens, cost and step times so far.",
  properties: { step: StepNameSchema, usage: USAGE, costUsd: DOLLARS, steps: StepTimingsSchema },
  required: ["step", "usage", "costUsd", "steps"],
} as const satisfies JsonSchema;

/** `complete`: the article; the stream ends. */
export const CompleteEventDataSchema = {
  type: "object",
  description: "The job completed; the last event. With the job's tokens, cost and step times.",
  properties: {
    progress: { const: 100 },
    article: { type: "string", description: "Markdown." },
    sections: { type: "array", items: { type: "string" } },
    usage: USAGE,
    costUsd: DOLLARS,
    steps: StepTimingsSchema,
  },
  required: ["progress", "article", "sections", "usage", "costUsd", "steps"],
} as const satisfies JsonSchema;

/** `error`: the job failed; the stream ends. */
export const ErrorEventDataSchema = {
  type: "object",
  description: "The job failed; the last event.",
  properties: {
    message: { type: "string" },
    step: StepNameSchema,
  },
  required: ["message"],
} as const satisfies JsonSchema;

/** `cancelled`: the job was cancelled; the stream ends. */
export const CancelledEventDataSchema = {
  type: "object",
  description: "The job was cancelled; the last event.",
  properties: {},
} as const satisfies JsonSchema;

/** `shutdown`: the service is stopping; not a job event, it has no `id`. */
export const ShutdownEventDataSchema = {
  type: "object",
  description: "The service is shutting down and ends the stream; reconnect with " +
    "`Last-Event-ID` (to another instance, or once it is back). Not part of the job's log: " +
    "it has no `id` of its own.",
  properties: { message: { type: "string" } },
  required: ["message"],
} as const satisfies JsonSchema;

/** Each event type of a job's log and the schema of its `data`. */
export const JOB_EVENT_DATA = {
  status: StatusEventDataSchema,
  progress: ProgressEventDataSchema,
  delta: DeltaEventDataSchema,
  usage: UsageEventDataSchema,
  complete: CompleteEventDataSchema,
  error: ErrorEventDataSchema,
  cancelled: CancelledEventDataSchema,
} as const;

// --- The original example's stream, /progress/{id}: data-only messages ---

const compat = <S extends string, D extends JsonSchema, P extends JsonSchema = typeof PERCENT>(
  step: S,
  description: string,
  data: D,
  progress: P = PERCENT as JsonSchema as P,
) =>
  ({
    type: "object",
    description,
    properties: { step: { const: step }, progress, data },
    required: ["step", "progress", "data"],
  }) as const;

/** The first message of every compatibility stream. */
export const CompatConnectedSchema = compat(
  "connected",
  "The stream is open.",
  {
    type: "object",
    properties: { message: { type: "string" } },
    required: ["message"],
  } as const,
  { const: 0 },
);

/** The outline is planned. */
export const CompatOutlineSchema = compat(
  "outline",
  "The outline is planned.",
  {
    type: "object",
    properties: { sections: { type: "array", items: { type: "string" } } },
    required: ["sections"],
  } as const,
);

/** One more section is written. */
export const CompatContentSchema = compat(
  "content",
  "One more section is written.",
  {
    type: "object",
    properties: {
      section: { type: "string" },
      completed_sections: { type: "integer", minimum: 1 },
      total_sections: { type: "integer", minimum: 1 },
    },
    required: ["section", "completed_sections", "total_sections"],
  } as const,
);

/** The style pass started. */
export const CompatStyleSchema = compat(
  "style",
  "The style pass started.",
  {
    type: "object",
    properties: {},
  } as const,
);

/** The article; the original example's last message. */
export const CompatCompleteSchema = compat(
  "complete",
  "The article; the last message.",
  {
    type: "object",
    properties: { final_article: { type: "string" } },
    required: ["final_article"],
  } as const,
  { const: 100 },
);

/** The job failed or was cancelled. */
export const CompatErrorSchema = compat(
  "error",
  "The job failed or was cancelled (`Job cancelled`); the last message.",
  { type: "object", properties: { error: { type: "string" } }, required: ["error"] } as const,
  { const: 0 },
);

/** A heartbeat, sent while idle and while the stream is held open after its last message. */
export const CompatHeartbeatSchema = {
  type: "object",
  description: "Sent while nothing else is, and while the stream is held open after its last " +
    "message (`COMPAT_HOLD_MS`).",
  properties: { heartbeat: { const: true } },
  required: ["heartbeat"],
} as const satisfies JsonSchema;

/** The only message for an unknown job, as the original example sent it. */
export const CompatNotFoundSchema = {
  type: "object",
  description: "The only message for an unknown job (the original example answered `200`).",
  properties: { error: { const: "Job not found" } },
  required: ["error"],
} as const satisfies JsonSchema;

/** Any message of the compatibility stream. */
export const CompatMessageSchema = {
  description: "A message of the original example's stream.",
  oneOf: [
    CompatConnectedSchema,
    CompatOutlineSchema,
    CompatContentSchema,
    CompatStyleSchema,
    CompatCompleteSchema,
    CompatErrorSchema,
    CompatHeartbeatSchema,
    CompatNotFoundSchema,
  ],
} as const satisfies JsonSchema;

/**
 * The schemas the OpenAPI document names, by component name. Wherever one of these values is
 * used inside another, the document refers to it by name.
 */
export const API_SCHEMAS = {
  Job: JobSchema,
  JobId: JobIdSchema,
  JobStatus: JobStatusSchema,
  StepName: StepNameSchema,
  JobList: JobListSchema,
  SubmitRequest: SubmitRequestSchema,
  JobSubmitRequest: JobSubmitRequestSchema,
  Error: ErrorSchema,
  ErrorCode: ErrorCodeSchema,
  Health: HealthSchema,
  StartJobResponse: StartJobResponseSchema,
  StatusEventData: StatusEventDataSchema,
  ProgressEventData: ProgressEventDataSchema,
  OutlineProgress: OutlineProgressSchema,
  ContentProgress: ContentProgressSchema,
  StyleProgress: StyleProgressSchema,
  DeltaEventData: DeltaEventDataSchema,
  UsageEventData: UsageEventDataSchema,
  CompleteEventData: CompleteEventDataSchema,
  JobUsage: JobUsageSchema,
  StepUsage: StepUsageSchema,
  StepTiming: StepTimingSchema,
  StepTimings: StepTimingsSchema,
  ErrorEventData: ErrorEventDataSchema,
  CancelledEventData: CancelledEventDataSchema,
  ShutdownEventData: ShutdownEventDataSchema,
  CompatMessage: CompatMessageSchema,
  CompatConnected: CompatConnectedSchema,
  CompatOutline: CompatOutlineSchema,
  CompatContent: CompatContentSchema,
  CompatStyle: CompatStyleSchema,
  CompatComplete: CompatCompleteSchema,
  CompatError: CompatErrorSchema,
  CompatHeartbeat: CompatHeartbeatSchema,
  CompatNotFound: CompatNotFoundSchema,
  JsonRpcMessage: JsonRpcMessageSchema,
  JsonRpcError: JsonRpcErrorSchema,
} as const satisfies Record<string, JsonSchema>;

/** A job's snapshot. */
export type Job = FromSchema<typeof JobSchema>;
/** Where a job is in its life. */
export type JobStatus = FromSchema<typeof JobStatusSchema>;
/** The body of `GET /api/jobs`. */
export type JobList = FromSchema<typeof JobListSchema>;
/** An error code of the API. */
export type ErrorCode = FromSchema<typeof ErrorCodeSchema>;
/** An error body. */
export type ErrorBody = FromSchema<typeof ErrorSchema>;
/** The body of `/healthz`. */
export type Health = FromSchema<typeof HealthSchema>;
/** A message of the compatibility stream. */
export type CompatMessage = FromSchema<typeof CompatMessageSchema>;

/** The event types of a job's log. */
export type JobEventType = keyof typeof JOB_EVENT_DATA;

/** One event of a job's log as the native stream sends it, `data` typed by `type`. */
export type JobStreamEvent = {
  [K in JobEventType]: {
    /** Position in the job's log, from 1; resume after it with `Last-Event-ID`. */
    id: number;
    /** The SSE `event:` name. */
    type: K;
    /** The SSE `data:`, parsed. */
    data: FromSchema<(typeof JOB_EVENT_DATA)[K]>;
  };
}[JobEventType];
