/**
 * The in-memory job store: what a single instance needs by default, and the tests' store.
 *
 * @module
 */

import { FINISHED_STATUSES, type JobEvent, type JobRecord } from "../core/job.ts";
import type { JobStore, PlacedEvent } from "../core/job_store.ts";
import { ReleasingMap } from "../core/releasing_map.ts";

/**
 * Keeps everything in process memory; what a single instance needs, and the tests' store.
 *
 * @example
 * ```ts
 * import { MemoryJobStore } from "./memory_job_store.ts";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryJobStore();
 * await store.append("j", { id: 1, type: "status", data: {} });
 * await store.append("j", { id: 2, type: "cancelled", data: {} });
 * assert.deepEqual((await store.events("j", 1, 10)).map((e) => e.id), [2]);
 * ```
 */
export class MemoryJobStore implements JobStore {
  // Long-lived, with an entry per job: see `ReleasingMap` for why not `Map`.
  readonly #jobs = new ReleasingMap<string, JobRecord>();
  readonly #logs = new ReleasingMap<string, JobEvent[]>();
  readonly #watchers = new ReleasingMap<string, Set<() => void>>();
  readonly #watchersOfAll = new Set<() => void>();
  /**
   * Every append in order, for the stream of every job: entry `i` (its job in `#orderJobs`, the
   * event in `#orderEvents`) is at position `#base + i + 1`. Two arrays, not one of pairs: an
   * object per event was the largest part of what this store kept per job, and the garbage
   * collector walks all of it. Entries of deleted jobs are dropped once they reach the front: the
   * first `#dropped` entries are gone, and are cut off only once they are half of the arrays, so
   * that a delete does not move every entry kept (10,000 retained jobs are some 300,000 entries).
   */
  readonly #orderJobs: string[] = [];
  readonly #orderEvents: (JobEvent | undefined)[] = [];
  #base = 0;
  #dropped = 0;
  /** Jobs end with the process. */
  readonly durable = false;

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
    let gone = this.#dropped;
    const jobs = this.#orderJobs;
    while (gone < jobs.length && !this.#logs.has(jobs[gone] as string)) {
      // Until the cut, the entry must not keep the forgotten event alive.
      this.#orderEvents[gone++] = undefined;
    }
    this.#dropped = gone;
    if (gone > 0 && gone * 2 >= jobs.length) {
      jobs.splice(0, gone);
      this.#orderEvents.splice(0, gone);
      this.#base += gone;
      this.#dropped = 0;
    }
    return Promise.resolve();
  }

  append(jobId: string, event: JobEvent): Promise<void> {
    let log = this.#logs.get(jobId);
    if (!log) this.#logs.set(jobId, log = []);
    log.push(event);
    this.#orderJobs.push(jobId);
    this.#orderEvents.push(event);
    // Readable at once: watchers are told in the same turn, so fan-out costs no promise.
    const watchers = this.#watchers.get(jobId);
    if (watchers) { for (const onAppend of watchers) onAppend(); }
    for (const onAppend of this.#watchersOfAll) onAppend();
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

  watch(jobId: string, onAppend: () => void): () => void {
    let watchers = this.#watchers.get(jobId);
    if (!watchers) this.#watchers.set(jobId, watchers = new Set());
    watchers.add(onAppend);
    return () => {
      if (watchers.delete(onAppend) && watchers.size === 0) this.#watchers.delete(jobId);
    };
  }

  watchAll(onAppend: () => void): () => void {
    this.#watchersOfAll.add(onAppend);
    return () => this.#watchersOfAll.delete(onAppend);
  }

  headPosition(): Promise<string> {
    return Promise.resolve(String(this.#base + this.#orderJobs.length));
  }

  eventsSince(position: string, limit: number): Promise<PlacedEvent[]> {
    return Promise.resolve(this.eventsSinceNow(position, limit));
  }

  eventsSinceNow(position: string, limit: number): PlacedEvent[] {
    const out: PlacedEvent[] = [];
    for (
      let i = Math.max(this.#dropped, parseInt(position, 10) - this.#base);
      i < this.#orderJobs.length && out.length < limit;
      i++
    ) {
      const jobId = this.#orderJobs[i] as string;
      if (!this.#logs.has(jobId)) continue;
      const event = this.#orderEvents[i] as JobEvent;
      out.push({ jobId, event, position: String(this.#base + i + 1) });
    }
    return out;
  }

  health(): Promise<string | null> {
    return Promise.resolve(null);
  }

  close(): Promise<void> {
    this.#watchers.clear();
    this.#watchersOfAll.clear();
    return Promise.resolve();
  }
}
