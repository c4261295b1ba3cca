/**
 * The OpenAPI path items of jobs (`/api/jobs`, `/api/jobs/{id}`) and the submit's body and
 * errors, which the compatibility route shares.
 *
 * @module
 */

import {
  JobListSchema,
  JobSchema,
  JobSubmitRequestSchema,
  SubmitRequestSchema,
} from "./api_schema.ts";
import { API_SECURITY, errorOf, json, JSON_TYPE, P, R, ref } from "./openapi_components.ts";
import type { OpenApiOperation, OpenApiPathItem } from "./openapi_types.ts";

/** The body of a submit, on `POST /api/jobs` and `POST /start-job`. */
export const SUBMIT_BODY: NonNullable<OpenApiOperation["requestBody"]> = {
  required: true,
  description: "At most `MAX_BODY_BYTES` (16 KiB by default), UTF-8.",
  content: {
    [JSON_TYPE]: { schema: SubmitRequestSchema },
    "application/x-www-form-urlencoded": { schema: SubmitRequestSchema },
    "multipart/form-data": { schema: SubmitRequestSchema },
  },
};

/** The errors a submit may answer. */
export const SUBMIT_ERRORS = {
  "400": R("BadTopic"),
  "401": R("Unauthorized"),
  "413": R("PayloadTooLarge"),
  "415": R("UnsupportedMediaType"),
  "429": R("QueueFull"),
  "500": R("Internal"),
  "503": R("Unavailable"),
};

/** The paths of jobs: submit, list, read, cancel. */
export const JOB_PATHS: Record<string, OpenApiPathItem> = {
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
};
