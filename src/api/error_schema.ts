/**
 * The error body of the service's own routes, `{"error": {"code", "message"}}`, and every code
 * it may carry.
 *
 * @module
 */

import type { JsonSchema } from "../core/json_schema.ts";

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
