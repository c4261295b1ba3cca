/**
 * The shapes of the HTTP API as JSON Schema values: the job snapshot, errors, every event's
 * `data` and the compatibility routes' messages. They are the one source of truth for both the
 * OpenAPI document (`src/api/openapi.ts` names each of {@linkcode API_SCHEMAS} as a component) and
 * the client's types (`src/client/client.ts`, through {@linkcode FromSchema}). No runtime code here; each
 * group of shapes has its own module, re-exported here.
 *
 * @module
 */

import type { FromSchema, JsonSchema } from "../core/json_schema.ts";
import {
  JobIdSchema,
  JobListSchema,
  JobSchema,
  JobStatusSchema,
  JobUsageSchema,
  StepNameSchema,
  StepTimingSchema,
  StepTimingsSchema,
  StepUsageSchema,
} from "./job_schema.ts";
import { JobSubmitRequestSchema, SubmitRequestSchema } from "./submit_schema.ts";
import { ErrorCodeSchema, ErrorSchema } from "./error_schema.ts";
import { HealthSchema } from "./health_schema.ts";
import { JsonRpcErrorSchema, JsonRpcMessageSchema } from "./json_rpc_schema.ts";
import {
  CancelledEventDataSchema,
  CompleteEventDataSchema,
  ContentProgressSchema,
  DeltaEventDataSchema,
  ErrorEventDataSchema,
  JOB_EVENT_DATA,
  OutlineProgressSchema,
  ProgressEventDataSchema,
  ShutdownEventDataSchema,
  StatusEventDataSchema,
  StyleProgressSchema,
  UsageEventDataSchema,
} from "./event_data_schema.ts";
import {
  CompatCompleteSchema,
  CompatConnectedSchema,
  CompatContentSchema,
  CompatErrorSchema,
  CompatHeartbeatSchema,
  CompatMessageSchema,
  CompatNotFoundSchema,
  CompatOutlineSchema,
  CompatStyleSchema,
  StartJobResponseSchema,
} from "./compat_schema.ts";

export * from "./job_schema.ts";
export * from "./submit_schema.ts";
export * from "./error_schema.ts";
export * from "./health_schema.ts";
export * from "./json_rpc_schema.ts";
export * from "./event_data_schema.ts";
export * from "./compat_schema.ts";

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
