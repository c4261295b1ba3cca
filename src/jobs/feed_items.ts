/**
 * What a feed writes into a subscriber's stream: log events (of one job, or placed among several
 * jobs'), and the signals that are not events (heartbeat, shutdown); and the sink it writes to.
 *
 * @module
 */

import type { JobEvent } from "../core/job.ts";

/** A signal to a stream that is not an event of the log. */
export interface FeedSignal {
  /** `heartbeat` keeps idle connections alive; `shutdown` is the last word before the server stops. */
  readonly signal: "heartbeat" | "shutdown";
}

/** What a subscriber's writer receives. */
export type FeedItem = JobEvent | FeedSignal;

/** One event of a stream of several jobs: the event, its job, and the cursor that follows it. */
export interface JobsFeedEvent {
  /** The job whose log holds the event. */
  readonly job: string;
  /** The event. */
  readonly event: JobEvent;
  /** Resumes every job of the stream right after this event (see `stream_cursor.ts`). */
  readonly cursor: string;
}

/** What the writer of a stream of several jobs receives. */
export type JobsFeedItem = JobsFeedEvent | FeedSignal;

/** The heartbeat item, shared by every stream. */
export const HEARTBEAT: FeedSignal = Object.freeze({ signal: "heartbeat" });
/** The shutdown item, shared by every stream. */
export const SHUTDOWN: FeedSignal = Object.freeze({ signal: "shutdown" });

/** Whether an item is a signal rather than a log event. */
export function isSignal<T extends object>(item: T | FeedSignal): item is FeedSignal {
  return "signal" in item;
}

/** Where a subscriber's items go: its stream's writer, and a way to end the stream at once. */
export interface FeedSink<T = FeedItem> {
  /** Writer of the stream's writable side; its `desiredSize` is the back-pressure signal. */
  writer: WritableStreamDefaultWriter<T>;
  /** Ends the stream at once, dropping what is queued (the client is gone or stuck). */
  abort(reason: unknown): void;
  /**
   * How long, in ms, the stream stays open after the terminal event, with heartbeats, before
   * it is closed: for clients that report any close as a failure. Absent or 0 closes at once.
   */
  holdOpenMs?: number;
  /**
   * Whether the stream sends nothing for `item` (its framing has no message for it): such items
   * are not written at all, which costs less than writing what the encoder then drops.
   */
  skips?: (item: T) => boolean;
}
