/**
 * The OpenAPI path items of the event streams (`/api/jobs/{id}/events`, `/api/events`).
 *
 * @module
 */

import { API_SECURITY, errorOf, P, R, SSE_TYPE, STREAM_SECURITY } from "./openapi_components.ts";
import {
  JobsStreamMessageSchema,
  JobStreamMessageSchema,
  SSE_HEADERS_NOTE,
} from "./openapi_stream_messages.ts";
import type { OpenApiPathItem } from "./openapi_types.ts";

/** The paths of event streams: one job's, several jobs'. */
export const EVENT_PATHS: Record<string, OpenApiPathItem> = {
  "/api/jobs/{id}/events": {
    get: {
      operationId: "streamJobEvents",
      summary: "Follow a job's events",
      description: "Server-Sent Events: the job's log from the start (or after " +
        "`Last-Event-ID`), then live, until its terminal event (`complete`, `error` or " +
        "`cancelled`), after which the stream ends; nothing follows a terminal event. Any " +
        "number of clients may follow one job. The stream opens with `retry: 1000`; an idle " +
        "stream gets a `: ping` comment every `HEARTBEAT_MS`. A client that reads nothing for " +
        "`SSE_STALL_MS` is dropped and may resume with `Last-Event-ID`. When the service " +
        `stops, the stream ends with a \`shutdown\` event. ${SSE_HEADERS_NOTE}`,
      tags: ["Events"],
      security: STREAM_SECURITY,
      parameters: [P("JobId"), P("LastEventId"), P("LastEventIdQuery"), P("StreamToken")],
      responses: {
        "200": {
          description: "The event stream.",
          content: {
            [SSE_TYPE]: {
              schema: { type: "string" },
              "x-itemSchema": JobStreamMessageSchema,
            },
          },
        },
        "400": errorOf(
          "`invalid_last_event_id`: `Last-Event-ID` is not an event id of this job.",
        ),
        "401": R("Unauthorized"),
        "404": R("JobNotFound"),
        "500": R("Internal"),
        "503": R("Unavailable"),
      },
    },
  },
  "/api/events": {
    get: {
      operationId: "streamEvents",
      summary: "Follow many jobs through one stream",
      description: "Server-Sent Events of several jobs through one connection (browsers allow " +
        "six per origin). With `jobs`, each listed job's log from the start (or after its " +
        "`:<n>`), then live, interleaved; the stream ends once every listed job has ended. " +
        "Without `jobs`, every job's events from the moment of connecting, new jobs included; " +
        "the stream stays open. Each frame's `id` is a cursor: `Last-Event-ID` (or `?since=`) " +
        "with it resumes every job at once, on any instance, nothing missed or repeated. " +
        "Heartbeats, stall drops and the `shutdown` event are those of a job's stream. With " +
        "`API_TOKEN`, only the bearer token opens it (a `streamToken` opens one job's stream). " +
        SSE_HEADERS_NOTE,
      tags: ["Events"],
      security: API_SECURITY,
      parameters: [
        {
          name: "jobs",
          in: "query",
          description: "1 to 100 job ids separated by commas, each optionally followed by " +
            "`:<n>` to start after its event `n`. Absent: every job, from now.",
          schema: { type: "string" },
        },
        P("Cursor"),
        P("CursorQuery"),
      ],
      responses: {
        "200": {
          description: "The event stream.",
          content: {
            [SSE_TYPE]: {
              schema: { type: "string" },
              "x-itemSchema": JobsStreamMessageSchema,
            },
          },
        },
        "400": errorOf(
          "`invalid_jobs` (an empty list, more than 100 ids, an id that is not a job id, a job " +
            "listed twice, a bad `:<n>`), `invalid_last_event_id` (an `:<n>` past the job's " +
            "last event) or `invalid_cursor` (not a cursor of this stream, or ahead of the " +
            "store: a memory store emptied by a restart).",
        ),
        "401": R("Unauthorized"),
        "404": errorOf("`not_found`: a listed job is unknown; the message names it."),
        "500": R("Internal"),
        "501": errorOf(
          "`not_supported`: without `jobs`, on a job store that keeps no order of every job's " +
            "events (all of Quillflow's own do).",
        ),
        "503": R("Unavailable"),
      },
    },
  },
};
