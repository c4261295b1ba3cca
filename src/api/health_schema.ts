/**
 * The body of `/healthz`.
 *
 * @module
 */

import type { JsonSchema } from "../core/json_schema.ts";

/** The body of `/healthz`. */
export const HealthSchema = {
  type: "object",
  description: "`ok`, or `degraded` with the troubled parts, such as " +
    '`{"status": "degraded", "redis": "unreachable"}`.',
  properties: { status: { type: "string", enum: ["ok", "degraded"] } },
  required: ["status"],
  additionalProperties: { type: "string" },
} as const satisfies JsonSchema;
