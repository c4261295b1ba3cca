/**
 * Where job records and their event logs live: the interface every store implements. The
 * in-memory store (`store/memory_job_store.ts`) is the default and the test double; durable
 * (SQLite) and distributed (Redis) stores implement the same interface.
 *
 * @module
 */

import type { JobEvent, JobRecord } from "./job.ts";

/**
 * Job records and per-job, append-only event logs. A write's promise rejects when the write
 * could not be made (a `StoreUnavailableError` when the store is unreachable or full);
 * a store may keep such a write and make it later, so a caller that gives up on a record
 * deletes it.
 */
export interface JobStore {
  /** Inserts or replaces a record. */
  put(job: JobRecord): Promise<void>;
  /** The record with `id`, if kept. */
  get(id: string): Promise<JobRecord | undefined>;
  /** Up to `limit` records, newest first. */
  list(limit: number): Promise<JobRecord[]>;
  /**
   * Records that are queued or running, oldest first, for recovery after a restart; `lastEventId`
   * matches the newest event of the log.
   */
  unfinished(): Promise<JobRecord[]>;
  /** Forgets a record and its log. */
  delete(id: string): Promise<void>;
  /** Appends `event` to the job's log; ids arrive in order, each one more than the last. */
  append(jobId: string, event: JobEvent): Promise<void>;
  /** Up to `limit` events with ids above `afterId`, in order. */
  events(jobId: string, afterId: number, limit: number): Promise<JobEvent[]>;
  /**
   * The same as `events`, answered at once by a store that holds its logs in process memory, so
   * the feed delivers a new event to every subscriber in one turn, without a promise per
   * subscriber; `null` from a store that must read them (the caller then uses `events`).
   */
  eventsNow(jobId: string, afterId: number, limit: number): JobEvent[] | null;
  /**
   * Calls `onAppend` whenever `jobId`'s log shows new events to `events`, whoever appended them:
   * at once for memory, once they are in the file for SQLite, on a pub/sub message for Redis.
   * The one way a reader learns of new events, whatever the store. Returns the way to stop.
   */
  watch(jobId: string, onAppend: () => void): () => void;
  /**
   * The position, in the order of every job's appends, of the newest event readers can see: a
   * stream of every job that starts now reads after it. Positions are one or two non-negative
   * integers joined by `-`, ordered part by part (`comparePositions` in `stream_cursor.ts`).
   */
  headPosition(): Promise<string>;
  /**
   * Up to `limit` events of any job after `position`, in the order of every job's appends (each
   * job's in id order); fewer than `limit` only when there are no more now. Events of deleted
   * jobs are left out.
   */
  eventsSince(position: string, limit: number): Promise<PlacedEvent[]>;
  /** The same as `eventsSince`, answered at once; `null` where it cannot be (see `eventsNow`). */
  eventsSinceNow(position: string, limit: number): PlacedEvent[] | null;
  /**
   * Calls `onAppend` whenever any job's log shows new events, whoever appended them (as `watch`
   * does for one job): the stream of every job learns of new events this way. Returns the way
   * to stop.
   */
  watchAll(onAppend: () => void): () => void;
  /** Releases what the store holds open. */
  close(): Promise<void>;
  /** What keeps the store from working now, for `/healthz`; `null` when nothing does. */
  health(): Promise<string | null>;
  /**
   * Whether jobs outlive the process: a single process then leaves its unfinished jobs at
   * shutdown, for the next start to resume, instead of cancelling them.
   */
  readonly durable: boolean;
}

/** An event, its job, and its position in the order of every job's appends. */
export interface PlacedEvent {
  /** The job whose log holds the event. */
  readonly jobId: string;
  /** The event. */
  readonly event: JobEvent;
  /** Where it is in the order of every job's appends (see `JobStore.headPosition`). */
  readonly position: string;
}

/**
 * A store whose runs claim a job before writing to it, for stores shared by several instances:
 * once another instance claims the job, this one's writes are refused, so two runs never write
 * one log.
 */
export interface FencedJobStore extends JobStore {
  /** Claims job `id` for a run holding `token`; earlier runs' writes are refused from now on. */
  fence(id: string, token: string): Promise<void>;
  /** Forgets this instance's claim on job `id`. */
  unfence(id: string): void;
  /** Whether a write of this instance's run of job `id` was refused: another one took it. */
  wasTaken(id: string): boolean;
}
