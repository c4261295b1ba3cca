/**
 * The native event stream: the `data` of each event type of a job's log, and of the `shutdown`
 * event that ends a stream when the service stops.
 *
 * @module
 */

import type { JsonSchema } from "../core/json_schema.ts";
import { DOLLARS, PERCENT, StepNameSchema, StepTimingsSchema, USAGE } from "./job_schema.ts";

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
