/**
 * The messages of the service's event streams as OpenAPI describes them (the `x-itemSchema` of
 * a `text/event-stream` body): a job's stream, the stream of several jobs, the original
 * example's stream and the MCP transport's.
 *
 * @module
 */

import {
  CompatMessageSchema,
  JOB_EVENT_DATA,
  JobIdSchema,
  JsonRpcMessageSchema,
  ShutdownEventDataSchema,
} from "./api_schema.ts";
import type { JsonSchema } from "../core/json_schema.ts";
import { JSON_TYPE } from "./openapi_components.ts";

/** An SSE event whose `data` is JSON of `data`'s schema. */
export function sseEvent(
  event: string,
  data: JsonSchema,
  id: "required" | "none",
  description?: string,
): JsonSchema {
  return {
    type: "object",
    ...(description ? { description } : {}),
    properties: {
      event: { const: event },
      ...(id === "required"
        ? {
          id: {
            type: "string",
            pattern: "^[1-9][0-9]*$",
            description: "The event's position in the job's log: 1, 2, 3, …",
          },
        }
        : {
          id: {
            type: "string",
            description: "Sets no id of its own; `EventSource` keeps the last one it saw.",
          },
        }),
      data: { type: "string", contentMediaType: JSON_TYPE, contentSchema: data },
    },
    required: id === "required" ? ["event", "id", "data"] : ["event", "data"],
  };
}

/** An event of a job's native stream. */
export const JobStreamMessageSchema: JsonSchema = {
  description: "An event of a job's stream: its type as the SSE `event`, its position in the " +
    "job's log as the SSE `id`, and its data as JSON.",
  oneOf: [
    ...Object.entries(JOB_EVENT_DATA).map(([event, data]) => sseEvent(event, data, "required")),
    sseEvent("shutdown", ShutdownEventDataSchema, "none"),
  ],
};

/** `data` of a stream of several jobs: the job's event data, with its job and event id. */
function withJob(data: JsonSchema): JsonSchema {
  if (data.oneOf) return { ...data, oneOf: data.oneOf.map(withJob) };
  return {
    ...data,
    properties: {
      job: JobIdSchema,
      eventId: {
        type: "integer",
        minimum: 1,
        description: "The event's id in its job's log: the `id` of that job's own stream.",
      },
      ...data.properties,
    },
    required: ["job", "eventId", ...(data.required ?? [])],
  };
}

/** An event of the stream of several jobs: the job's event, a cursor as its id. */
export const JobsStreamMessageSchema: JsonSchema = {
  description: "An event of one of the jobs: its type as the SSE `event`, a cursor that resumes " +
    "every job of the stream as the SSE `id`, and its data as JSON with `job` and `eventId`.",
  oneOf: [
    ...Object.entries(JOB_EVENT_DATA).map(([event, data]) => ({
      type: "object",
      properties: {
        event: { const: event },
        id: {
          type: "string",
          pattern: "^[A-Za-z0-9_-]+$",
          description: "An opaque cursor: send it back as `Last-Event-ID` (or `?since=`) to " +
            "resume every job of the stream after this event.",
        },
        data: { type: "string", contentMediaType: JSON_TYPE, contentSchema: withJob(data) },
      },
      required: ["event", "id", "data"],
    } as const satisfies JsonSchema)),
    sseEvent("shutdown", ShutdownEventDataSchema, "none"),
  ],
};

/** A message of the original example's stream: data only, no `event` or `id`. */
export const CompatStreamMessageSchema: JsonSchema = {
  description: "A message of the original example's stream: data only.",
  ...sseEvent("message", CompatMessageSchema, "none"),
};

/** A message of the MCP transport's event streams. */
export const McpStreamMessageSchema: JsonSchema = sseEvent("message", JsonRpcMessageSchema, "none");

/** What every event stream's description says of its headers. */
export const SSE_HEADERS_NOTE =
  "Sent with `Cache-Control: no-cache` and `X-Accel-Buffering: no`, so " +
  "proxies pass events on at once.";
