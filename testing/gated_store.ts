/**
 * A job store for tests whose first write of each job can be held or made to fail, to race a
 * submit's first write with shutdown and cancel, the way a slow or failing disk or network would.
 *
 * @module
 */

import type { JobEvent, JobRecord } from "../src/core/job.ts";
import type { JobStore, PlacedEvent } from "../src/core/job_store.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";

/** What the first write of the next jobs does. */
export type FirstWrite = "pass" | "hold" | "reject";

/** A first write being held, for the test to release. */
export interface HeldWrite {
  /** The job written. */
  id: string;
  /** Lets the write finish. */
  release(): void;
}

/**
 * A {@linkcode MemoryJobStore} whose first `put` of each job passes, is held until the test
 * releases it (the record is readable meanwhile, as SQLite's buffered records are), or rejects.
 * Every other call goes straight to the memory store.
 *
 * @example
 * ```ts
 * import { GatedStore } from "./gated_store.ts";
 * import { jobRecord } from "./job_records.ts";
 * import assert from "node:assert/strict";
 *
 * const store = new GatedStore();
 * store.firstWrite = "hold";
 * let done = false;
 * const put = store.put(jobRecord("a")).then(() => done = true);
 * assert.equal((await store.get("a"))?.id, "a");
 * assert.equal(done, false);
 * store.held[0]?.release();
 * await put;
 * assert.equal(done, true);
 * ```
 */
export class GatedStore implements JobStore {
  /** Where everything is kept. */
  readonly inner = new MemoryJobStore();
  /** What the first write of the next jobs does. Default `pass`. */
  firstWrite: FirstWrite = "pass";
  /** First writes being held, oldest first. */
  readonly held: HeldWrite[] = [];
  readonly #seen = new Set<string>();

  put(job: JobRecord): Promise<void> {
    const first = !this.#seen.has(job.id);
    this.#seen.add(job.id);
    if (!first || this.firstWrite === "pass") return this.inner.put(job);
    if (this.firstWrite === "reject") {
      return Promise.reject(new Error("the disk is on fire"));
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    this.inner.put(job);
    this.held.push({ id: job.id, release: () => resolve() });
    return promise;
  }

  get(id: string): Promise<JobRecord | undefined> {
    return this.inner.get(id);
  }

  list(limit: number): Promise<JobRecord[]> {
    return this.inner.list(limit);
  }

  unfinished(): Promise<JobRecord[]> {
    return this.inner.unfinished();
  }

  delete(id: string): Promise<void> {
    return this.inner.delete(id);
  }

  append(jobId: string, event: JobEvent): Promise<void> {
    return this.inner.append(jobId, event);
  }

  events(jobId: string, afterId: number, limit: number): Promise<JobEvent[]> {
    return this.inner.events(jobId, afterId, limit);
  }

  eventsNow(jobId: string, afterId: number, limit: number): JobEvent[] {
    return this.inner.eventsNow(jobId, afterId, limit);
  }

  watch(jobId: string, onAppend: () => void): () => void {
    return this.inner.watch(jobId, onAppend);
  }

  watchAll(onAppend: () => void): () => void {
    return this.inner.watchAll(onAppend);
  }

  headPosition(): Promise<string> {
    return this.inner.headPosition();
  }

  eventsSince(position: string, limit: number): Promise<PlacedEvent[]> {
    return this.inner.eventsSince(position, limit);
  }

  eventsSinceNow(position: string, limit: number): PlacedEvent[] {
    return this.inner.eventsSinceNow(position, limit);
  }

  health(): Promise<string | null> {
    return this.inner.health();
  }

  /** Jobs end with the process, as in the store it wraps. */
  readonly durable = false;

  close(): Promise<void> {
    return this.inner.close();
  }
}
