/**
 * The OpenAPI path items of the original example's routes (`/start-job`, `/progress/{id}`).
 *
 * @module
 */

import { StartJobResponseSchema } from "./api_schema.ts";
import { API_SECURITY, json, P, R, SSE_TYPE, STREAM_SECURITY } from "./openapi_components.ts";
import { SUBMIT_BODY, SUBMIT_ERRORS } from "./openapi_job_paths.ts";
import { CompatStreamMessageSchema, SSE_HEADERS_NOTE } from "./openapi_stream_messages.ts";
import type { OpenApiPathItem } from "./openapi_types.ts";

/** The original example's routes. */
export const COMPAT_PATHS: Record<string, OpenApiPathItem> = {
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
};
