/**
 * How many jobs this process keeps in each status, for `/metrics`.
 *
 * @module
 */

import type { JobStatus } from "../core/job.ts";

/**
 * Jobs per status, moved as each job changes status.
 *
 * @example
 * ```ts
 * import { StatusCounts } from "./status_counts.ts";
 * import assert from "node:assert/strict";
 *
 * const counts = new StatusCounts();
 * counts.move(undefined, "queued");
 * counts.move("queued", "running");
 * assert.deepEqual(counts.toJSON(), { queued: 0, running: 1 });
 * ```
 */
export class StatusCounts {
  readonly #counts = new Map<JobStatus, number>();

  /** A job leaves status `from` (none: it is new here) for `to` (none: it is gone). */
  move(from: JobStatus | undefined, to: JobStatus | undefined): void {
    if (from) this.#counts.set(from, (this.#counts.get(from) ?? 0) - 1);
    if (to) this.#counts.set(to, (this.#counts.get(to) ?? 0) + 1);
  }

  /** The counts by status. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }
}
