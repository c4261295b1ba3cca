/**
 * What the SQLite store knows of the job records it has written: the status each unfinished job's
 * record was last written with (a record put again with that status need not be written, see
 * `SqliteJobStore.put`), and the newest records written, kept in memory. A client that submits a
 * job asks for it right after (`/progress/{id}`, `GET /jobs/{id}`), often once it has finished
 * and left the manager's map; reading its record back from the file, SQL and `JSON.parse` of the
 * whole article, was the largest cost the durable store added to a zero-delay job.
 *
 * @module
 */

import { FINISHED_STATUSES, type JobRecord, type JobStatus } from "../core/job.ts";
import { ReleasingMap } from "../core/releasing_map.ts";

/** Records written, the newest, kept in memory. */
const RECENT_RECORDS = 256;

/**
 * The records a store has written.
 *
 * @example
 * ```ts
 * import { WrittenRecords } from "./written_records.ts";
 * import type { JobRecord } from "../core/job.ts";
 * import assert from "node:assert/strict";
 *
 * const record: JobRecord = {
 *   id: "j", topic: "t", status: "running", progress: 0, step: null,
 *   provider: "offline", model: null, createdAt: 0, lastEventId: 2,
 * };
 * const written = new WrittenRecords();
 * written.add([record]);
 * assert.equal(written.statusOf("j"), "running");
 * assert.equal(written.get("j"), record, "read back without the file");
 * written.forget("j");
 * assert.equal(written.get("j"), undefined);
 * ```
 */
export class WrittenRecords {
  /** The status each unfinished job's record was last written with. */
  readonly #status = new Map<string, JobStatus>();
  /** The newest records written, oldest first (the Map's order is recency). */
  readonly #recent = new ReleasingMap<string, JobRecord>();

  /**
   * Takes note of `records`, just written. They are kept as they are, not copied: the object put
   * is the newest state of its job, the same one the store's buffer answers with.
   */
  add(records: Iterable<JobRecord>): void {
    for (const record of records) {
      if (FINISHED_STATUSES.has(record.status)) this.#status.delete(record.id);
      else this.#status.set(record.id, record.status);
      this.#recent.delete(record.id);
      this.#recent.set(record.id, record);
      if (this.#recent.size > RECENT_RECORDS) {
        this.#recent.delete(this.#recent.keys().next().value as string);
      }
    }
  }

  /** The status job `id`'s record was last written with, while it is unfinished. */
  statusOf(id: string): JobStatus | undefined {
    return this.#status.get(id);
  }

  /** Job `id`'s record, if it is among the newest written. */
  get(id: string): JobRecord | undefined {
    return this.#recent.get(id);
  }

  /** Forgets job `id`, which was deleted. */
  forget(id: string): void {
    this.#status.delete(id);
    this.#recent.delete(id);
  }
}
