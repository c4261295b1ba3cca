/**
 * Where job records and their event logs live. The in-memory store is the default and the test
 * double; durable and distributed stores implement the same interface.
 *
 * @module
 */

import { FINISHED_STATUSES, type JobEvent, type JobRecord } from "./job.ts";

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
   * The same as `events`, answered at once, for a store that holds its logs in process memory:
   * the feed then delivers a new event to every subscriber in one turn, without a promise per
   * subscriber.
   */
  eventsNow?(jobId: string, afterId: number, limit: number): JobEvent[];
  /** Releases what the store holds open. */
  close(): Promise<void>;
  /** What keeps the store from working now, for `/healthz`; `null` when nothing does. */
  health?(): Promise<string | null>;
  /** Whether jobs outlive the process; such jobs are left unfinished at shutdown, to resume. */
  readonly durable?: boolean;
  /**
   * For a store whose `events` shows an appended event only once it is safely written: calls
   * `listener` with the jobs whose logs became readable. Stores without it show events at once.
   */
  onDurable?(listener: (jobIds: Iterable<string>) => void): void;
  /**
   * Calls `onAppend` whenever `jobId`'s log grows, whoever appended; returns the way to stop.
   * Only stores shared by several processes need it: in one process the manager that appends
   * also tells the feed.
   */
  watch?(jobId: string, onAppend: () => void): () => void;
  /**
   * The position, in the order of every job's appends, of the newest event readers can see: a
   * stream of every job that starts now reads after it. Positions are one or two non-negative
   * integers joined by `-`, ordered part by part (`comparePositions` in `stream_cursor.ts`); a
   * store that keeps no such order has neither this nor `eventsSince`.
   */
  headPosition?(): Promise<string>;
  /**
   * Up to `limit` events of any job after `position`, in the order of every job's appends (each
   * job's in id order); fewer than `limit` only when there are no more now. Events of deleted
   * jobs are left out.
   */
  eventsSince?(position: string, limit: number): Promise<PlacedEvent[]>;
  /** The same as `eventsSince`, answered at once (see `eventsNow`). */
  eventsSinceNow?(position: string, limit: number): PlacedEvent[];
  /**
   * Calls `onAppend` whenever any job's log grows in another process sharing the store; returns
   * the way to stop. Only stores shared by several processes need it (see `watch`).
   */
  watchAll?(onAppend: () => void): () => void;
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
 * Keeps everything in process memory; what a single instance needs, and the tests' store.
 *
 * @example
 * ```ts
 * import { MemoryJobStore } from "./job_store.ts";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryJobStore();
 * await store.append("j", { id: 1, type: "status", data: {} });
 * await store.append("j", { id: 2, type: "cancelled", data: {} });
 * assert.deepEqual((await store.events("j", 1, 10)).map((e) => e.id), [2]);
 * ```
 */
export class MemoryJobStore implements JobStore {
  readonly #jobs = new Map<string, JobRecord>();
  readonly #logs = new Map<string, JobEvent[]>();
  /**
   * Every append in order, for the stream of every job: entry `i` is at position `#base + i + 1`.
   * Entries of deleted jobs are dropped once they reach the front.
   */
  readonly #order: { jobId: string; event: JobEvent }[] = [];
  #base = 0;

  put(job: JobRecord): Promise<void> {
    this.#jobs.set(job.id, job);
    return Promise.resolve();
  }

  get(id: string): Promise<JobRecord | undefined> {
    return Promise.resolve(this.#jobs.get(id));
  }

  list(limit: number): Promise<JobRecord[]> {
    const all = [...this.#jobs.values()];
    return Promise.resolve(all.slice(Math.max(0, all.length - limit)).reverse());
  }

  unfinished(): Promise<JobRecord[]> {
    const open = [...this.#jobs.values()].filter((job) => !FINISHED_STATUSES.has(job.status));
    return Promise.resolve(open.sort((a, b) => a.createdAt - b.createdAt));
  }

  delete(id: string): Promise<void> {
    this.#jobs.delete(id);
    this.#logs.delete(id);
    // Jobs are evicted roughly in the order they ran, so the front mostly moves on here.
    let gone = 0;
    while (
      gone < this.#order.length && !this.#logs.has((this.#order[gone] as { jobId: string }).jobId)
    ) {
      gone++;
    }
    if (gone > 0) {
      this.#order.splice(0, gone);
      this.#base += gone;
    }
    return Promise.resolve();
  }

  append(jobId: string, event: JobEvent): Promise<void> {
    let log = this.#logs.get(jobId);
    if (!log) this.#logs.set(jobId, log = []);
    log.push(event);
    this.#order.push({ jobId, event });
    return Promise.resolve();
  }

  events(jobId: string, afterId: number, limit: number): Promise<JobEvent[]> {
    return Promise.resolve(this.eventsNow(jobId, afterId, limit));
  }

  eventsNow(jobId: string, afterId: number, limit: number): JobEvent[] {
    const log = this.#logs.get(jobId);
    if (!log) return [];
    // Ids are contiguous from 1, so the id is the index of the next event.
    return log.slice(afterId, afterId + limit);
  }

  headPosition(): Promise<string> {
    return Promise.resolve(String(this.#base + this.#order.length));
  }

  eventsSince(position: string, limit: number): Promise<PlacedEvent[]> {
    return Promise.resolve(this.eventsSinceNow(position, limit));
  }

  eventsSinceNow(position: string, limit: number): PlacedEvent[] {
    const out: PlacedEvent[] = [];
    for (
      let i = Math.max(0, parseInt(position, 10) - this.#base);
      i < this.#order.length && out.length < limit;
      i++
    ) {
      const { jobId, event } = this.#order[i] as { jobId: string; event: JobEvent };
      if (this.#logs.has(jobId)) out.push({ jobId, event, position: String(this.#base + i + 1) });
    }
    return out;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
