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
    return Promise.resolve();
  }

  append(jobId: string, event: JobEvent): Promise<void> {
    let log = this.#logs.get(jobId);
    if (!log) this.#logs.set(jobId, log = []);
    log.push(event);
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

  close(): Promise<void> {
    return Promise.resolve();
  }
}
