/**
 * The bodies of a submit: the topic (`POST /start-job`), and the topic with the job's own
 * webhook (`POST /api/jobs`).
 *
 * @module
 */

import type { JsonSchema } from "../core/json_schema.ts";

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
