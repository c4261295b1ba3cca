/**
 * The original example's routes: the answer of `POST /start-job` and the data-only messages of
 * `/progress/{id}`.
 *
 * @module
 */

import type { JsonSchema } from "../core/json_schema.ts";
import { JobIdSchema, PERCENT } from "./job_schema.ts";

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
