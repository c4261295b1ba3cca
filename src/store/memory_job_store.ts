/**
 * The in-memory job store: what a single instance needs by default, and the tests' store.
 *
 * @module
 */

import { FINISHED_STATUSES, type JobEvent, type JobRecord } from "../core/job.ts";
import type { JobStore } from "../core/job_store.ts";

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
  readonly #jobs = new Map<string, JobRecord>();
  readonly #logs = new Map<string, JobEvent[]>();
  readonly #watchers = new Map<string, Set<() => void>>();
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
    return Promise.resolve();
  }

  append(jobId: string, event: JobEvent): Promise<void> {
    let log = this.#logs.get(jobId);
    if (!log) this.#logs.set(jobId, log = []);
    log.push(event);
    // Readable at once: watchers are told in the same turn, so fan-out costs no promise.
    const watchers = this.#watchers.get(jobId);
    if (watchers) { for (const onAppend of watchers) onAppend(); }
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

  health(): Promise<string | null> {
    return Promise.resolve(null);
  }

  close(): Promise<void> {
    this.#watchers.clear();
    return Promise.resolve();
  }
}
