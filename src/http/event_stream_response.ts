/**
 * Event-stream responses for a job: the native stream (`id:`, `event:`, JSON `data:`), and the
 * original example's data-only stream for its existing clients; and for several jobs at once,
 * the native framing with a cursor as `id:` and the job in every `data`. Each response has its
 * own TransformStream: the feed writes items into it, the response body reads framed bytes out.
 *
 * @module
 */

import type { JobEvent } from "../core/job.ts";
import {
  type FeedItem,
  type FeedSignal,
  type FeedSink,
  isSignal,
  type JobsFeedItem,
} from "../jobs/job_feed.ts";
import { encodeSse, frameJson, SSE_HEADERS, SseStream } from "./sse_encoder.ts";

const encoder = new TextEncoder();

// Every watcher of a job gets the same bytes for an event: frame it once.
const framed = new WeakMap<JobEvent, Uint8Array>();

const PING = encoder.encode(encodeSse({ comment: "ping" }));
const SHUTDOWN_FRAME = encoder.encode(encodeSse({
  event: "shutdown",
  data: JSON.stringify({
    message: "The server is shutting down; reconnect with Last-Event-ID to resume",
  }),
}));

/**
 * Frames a feed item for the native stream.
 *
 * @example
 * ```ts
 * import { encodeNative } from "./event_stream_response.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeNative({ id: 3, type: "cancelled", data: {} });
 * assert.equal(new TextDecoder().decode(bytes), "id: 3\nevent: cancelled\ndata: {}\n\n");
 * ```
 */
export function encodeNative(item: FeedItem): Uint8Array {
  if (isSignal(item)) return encodeSignal(item);
  let bytes = framed.get(item);
  if (!bytes) {
    // An event's id is an integer and its type one of the log's names: nothing to escape.
    bytes = encoder.encode(
      frameJson(JSON.stringify(item.data), `id: ${item.id}\nevent: ${item.type}\n`),
    );
    framed.set(item, bytes);
  }
  return bytes;
}

function encodeSignal(signal: FeedSignal): Uint8Array {
  return signal.signal === "heartbeat" ? PING : SHUTDOWN_FRAME;
}

// What follows the `id:` line of an event in a stream of several jobs, the same for every such
// stream: framed once per event.
const jobsFramed = new WeakMap<JobEvent, string>();

/**
 * Frames an item of a stream of several jobs: its cursor as `id:`, and `"job"` and `"eventId"`
 * (the event's id in its job's log, the `id:` of that job's own stream) added to `data`.
 *
 * @example
 * ```ts
 * import { encodeJobs } from "./event_stream_response.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeJobs({ job: "j1", cursor: "QQ", event: { id: 3, type: "cancelled", data: {} } });
 * assert.equal(
 *   new TextDecoder().decode(bytes),
 *   'id: QQ\nevent: cancelled\ndata: {"job":"j1","eventId":3}\n\n',
 * );
 * ```
 */
export function encodeJobs(item: JobsFeedItem): Uint8Array {
  if (isSignal(item)) return encodeSignal(item);
  const { event } = item;
  let rest = jobsFramed.get(event);
  if (rest === undefined) {
    rest = frameJson(
      JSON.stringify({ job: item.job, eventId: event.id, ...event.data }),
      `event: ${event.type}\n`,
    );
    jobsFramed.set(event, rest);
  }
  // A cursor is base64url (`stream_cursor.ts`): nothing in it to escape.
  return encoder.encode(`id: ${item.cursor}\n${rest}`);
}

/** The message the original example sent for an event, or `null` where it sent none. */
export function toCompatMessage(item: FeedItem): Record<string, unknown> | null {
  if (isSignal(item)) return item.signal === "heartbeat" ? { heartbeat: true } : null;
  const data = item.data;
  switch (item.type) {
    case "progress":
      if (data.step === "outline") {
        return { step: "outline", progress: data.progress, data: { sections: data.sections } };
      }
      if (data.step === "content") {
        return {
          step: "content",
          progress: data.progress,
          data: {
            section: data.section,
            completed_sections: data.completed,
            total_sections: data.total,
          },
        };
      }
      return data.stage === "started" ? { step: "style", progress: data.progress, data: {} } : null;
    case "complete":
      return { step: "complete", progress: 100, data: { final_article: data.article } };
    case "error":
      return { step: "error", progress: 0, data: { error: data.message } };
    case "cancelled":
      return { step: "error", progress: 0, data: { error: "Job cancelled" } };
    default:
      return null;
  }
}

const compatFramed = new WeakMap<JobEvent, Uint8Array | null>();

// The original example had no shutdown message; its heartbeat is the same bytes every time.
const COMPAT_PING = encoder.encode(encodeSse({ data: JSON.stringify({ heartbeat: true }) }));

/** Frames a feed item for the compatibility stream: data-only, no ids. */
export function encodeCompat(item: FeedItem): Uint8Array | null {
  if (isSignal(item)) return item.signal === "heartbeat" ? COMPAT_PING : null;
  let bytes = compatFramed.get(item);
  if (bytes === undefined) {
    const message = toCompatMessage(item);
    bytes = message ? encoder.encode(frameJson(JSON.stringify(message))) : null;
    compatFramed.set(item, bytes);
  }
  return bytes;
}

/** The first message of every compatibility stream. */
export const COMPAT_CONNECTED: Uint8Array = encoder.encode(encodeSse({
  data: JSON.stringify({
    step: "connected",
    progress: 0,
    data: { message: "Connected to job progress" },
  }),
}));

/** Asks browsers to reconnect after one second rather than their default. */
const RETRY_PREAMBLE = encoder.encode(encodeSse({ retry: 1000 }));

/** Options of {@linkcode eventStreamResponse}. */
export interface EventStreamOptions {
  /** Picks the original example's data-only framing. */
  compat: boolean;
  /** Items buffered before the feed waits on the client. */
  highWaterMark: number;
  /** How long the stream stays open after the terminal event, with heartbeats, in ms. */
  holdOpenMs?: number;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

/**
 * Creates the response of a stream of several jobs: `subscribe` receives the sink to feed. It
 * resolves once the stream's first chunk is ready (see `SseStream.started`).
 */
export async function jobsStreamResponse(
  subscribe: (sink: FeedSink<JobsFeedItem>) => void,
  options: Pick<EventStreamOptions, "highWaterMark" | "headers">,
): Promise<Response> {
  const stream = new SseStream<JobsFeedItem>(encodeJobs, {
    highWaterMark: options.highWaterMark,
    preamble: RETRY_PREAMBLE,
  });
  subscribe({ writer: stream.writable.getWriter(), abort: (reason) => stream.abort(reason) });
  await stream.started;
  return new Response(stream.readable, { headers: { ...SSE_HEADERS, ...options.headers } });
}

/**
 * Creates a stream response: `subscribe` receives the sink to feed. It resolves once the
 * stream's first chunk is ready: the preamble, and the events the log already holds.
 */
export async function eventStreamResponse(
  subscribe: (sink: FeedSink) => void,
  options: EventStreamOptions,
): Promise<Response> {
  const stream = options.compat
    ? new SseStream<FeedItem>(encodeCompat, {
      highWaterMark: options.highWaterMark,
      preamble: COMPAT_CONNECTED,
    })
    : new SseStream<FeedItem>(encodeNative, {
      highWaterMark: options.highWaterMark,
      preamble: RETRY_PREAMBLE,
    });
  subscribe({
    writer: stream.writable.getWriter(),
    abort: (reason) => stream.abort(reason),
    ...(options.holdOpenMs ? { holdOpenMs: options.holdOpenMs } : {}),
    // Most of a job's events have no message in the original example's stream.
    ...(options.compat ? { skips: (item: FeedItem) => encodeCompat(item) === null } : {}),
  });
  await stream.started;
  return new Response(stream.readable, { headers: { ...SSE_HEADERS, ...options.headers } });
}
