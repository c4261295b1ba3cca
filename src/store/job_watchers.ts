/**
 * Who is waiting to hear of a store's appends: watchers of one job's log, and watchers of every
 * job's. A store calls {@linkcode JobWatchers.notify} once the new events can be read.
 *
 * @module
 */

import { ReleasingMap } from "../core/releasing_map.ts";

/**
 * The watchers of a store's appends.
 *
 * @example
 * ```ts
 * import { JobWatchers } from "./job_watchers.ts";
 * import assert from "node:assert/strict";
 *
 * const watchers = new JobWatchers();
 * const heard: string[] = [];
 * const stop = watchers.watch("a", () => heard.push("a"));
 * watchers.watchAll(() => heard.push("any"));
 * watchers.notify(["a", "b"]);
 * stop();
 * watchers.notify(["a"]);
 * assert.deepEqual(heard, ["a", "any", "any"]);
 * ```
 */
export class JobWatchers {
  // An entry per watched job: see `ReleasingMap` for why not `Map`.
  readonly #byJob = new ReleasingMap<string, Set<() => void>>();
  readonly #ofAll = new Set<() => void>();

  /** Calls `onAppend` on each notify naming `jobId`; returns the way to stop. */
  watch(jobId: string, onAppend: () => void): () => void {
    let watchers = this.#byJob.get(jobId);
    if (!watchers) this.#byJob.set(jobId, watchers = new Set());
    watchers.add(onAppend);
    return () => {
      if (watchers.delete(onAppend) && watchers.size === 0) this.#byJob.delete(jobId);
    };
  }

  /** Calls `onAppend` on each notify naming any job; returns the way to stop. */
  watchAll(onAppend: () => void): () => void {
    this.#ofAll.add(onAppend);
    return () => this.#ofAll.delete(onAppend);
  }

  /** Tells the watchers of `jobIds`, then, if any job grew, the watchers of every job. */
  notify(jobIds: readonly string[]): void {
    for (const jobId of jobIds) {
      const watchers = this.#byJob.get(jobId);
      if (watchers) { for (const onAppend of watchers) onAppend(); }
    }
    if (jobIds.length > 0) { for (const onAppend of this.#ofAll) onAppend(); }
  }
}
