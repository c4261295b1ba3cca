/**
 * The job as the API shows it: its snapshot (status, progress, usage, step times) and the
 * list of jobs, with the small shapes they are made of.
 *
 * @module
 */

import type { JsonSchema } from "../core/json_schema.ts";

/** A percentage of the work done. */
export const PERCENT = { type: "integer", minimum: 0, maximum: 100 } as const;

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
/** A cost in US dollars, or `null` when not known. */
export const DOLLARS = {
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

/** A job's usage, or `null` while none was reported. */
export const USAGE = {
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
