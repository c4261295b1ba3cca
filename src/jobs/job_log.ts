/**
 * The writer of one job's event log: gives each event the next id, keeps the record in step
 * (status, progress, article) and writes both to the store, in order. It is where an event is
 * written; the store then tells the job's watchers (see `JobStore.watch`).
 *
 * @module
 */

import { describeError } from "../core/describe_error.ts";
import {
  FINISHED_STATUSES,
  type JobEvent,
  type JobEventType,
  type JobRecord,
  type JobStatus,
  TERMINAL_EVENTS,
} from "../core/job.ts";
import type { JobStore } from "../core/job_store.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import type { StatusCounts } from "./status_counts.ts";

/** Settings of a {@linkcode JobLog}. */
export interface JobLogOptions {
  /** Where the record and the events go. */
  store: JobStore;
  /** Moved on each status change. */
  counts?: StatusCounts;
  /** Structured logs. */
  logger?: Logger;
  /**
   * Called once, when the first write fails. With `stopWhenUnsaved`, the log is sealed first:
   * the run stops, and another run continues the log.
   */
  onUnsaved?: () => void;
  /** Whether a failed write seals the log (see `RunPolicy.stopWhenUnsaved`). */
  stopWhenUnsaved?: boolean;
  /**
   * Told of the job's end, with its final record, in the same turn as the write of that end:
   * what it writes to a store that groups writes goes in the same transaction (webhooks).
   */
  onEnd?: (record: JobRecord) => void;
}

let nextSerial = 1;

/**
 * Appends a job's events and keeps its record in step.
 *
 * @example
 * ```ts
 * import { JobLog } from "./job_log.ts";
 * import { MemoryJobStore } from "../store/memory_job_store.ts";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryJobStore();
 * const record = {
 *   id: "j", topic: "t", status: "queued" as const, progress: 0, step: null,
 *   provider: "offline", model: null, createdAt: 0, lastEventId: 0,
 * };
 * const log = new JobLog(record, { store });
 * log.append("progress", { step: "outline", progress: 33 });
 * await log.lastWrite;
 * assert.equal(record.progress, 33);
 * assert.deepEqual((await store.events("j", 0, 10)).map((e) => e.id), [1]);
 * ```
 */
export class JobLog {
  /** A number no other log in this process has: the key of maps that hold a log. */
  readonly serial: number = nextSerial++;
  /** The job's record, kept in step with its log. */
  readonly record: JobRecord;
  /** The newest store write; writes are applied in order, so it settles after all the others. */
  lastWrite: Promise<void> = Promise.resolve();
  /** A write to the store failed: the stored log is incomplete. */
  unsaved = false;
  /** Writes nothing more: another run continues the log. */
  sealed = false;
  readonly #store: JobStore;
  readonly #counts: StatusCounts | undefined;
  readonly #logger: Logger;
  readonly #onUnsaved: (() => void) | undefined;
  readonly #stopWhenUnsaved: boolean;
  readonly #onEnd: ((record: JobRecord) => void) | undefined;

  /** Creates the writer of `record`'s log, which goes on from `record.lastEventId`. */
  constructor(record: JobRecord, options: JobLogOptions) {
    this.record = record;
    this.#store = options.store;
    this.#counts = options.counts;
    this.#logger = options.logger ?? silentLogger;
    this.#onUnsaved = options.onUnsaved;
    this.#stopWhenUnsaved = options.stopWhenUnsaved ?? false;
    this.#onEnd = options.onEnd;
  }

  /** Whether the job has ended. */
  get finished(): boolean {
    return FINISHED_STATUSES.has(this.record.status);
  }

  /**
   * Writes a new job's record and its `queued` event, both in one turn, so a store that groups
   * writes puts them in one transaction. Rejects with the write's error.
   */
  create(): Promise<void> {
    const event: JobEvent = { id: 1, type: "status", data: { status: "queued", progress: 0 } };
    this.record.lastEventId = 1;
    const written = Promise.all([
      this.#store.put(this.record),
      this.#store.append(this.record.id, event),
    ]).then(() => {});
    this.lastWrite = written.catch(() => {});
    return written;
  }

  /** Moves the record to `status`, counting it. */
  setStatus(status: JobStatus): void {
    this.#counts?.move(this.record.status, status);
    this.record.status = status;
  }

  /**
   * Appends an event of `type`; the record follows (progress, article), and is written too
   * unless the event is text. Events after the end are dropped, except the end itself.
   */
  append(type: JobEventType, data: Record<string, unknown>): void {
    const record = this.record;
    // Text still arriving from a call that was cancelled is of no use to anyone.
    if (this.finished && !TERMINAL_EVENTS.has(type)) return;
    if (this.sealed) return; // no gaps: the run that follows continues the log

    const event: JobEvent = { id: record.lastEventId + 1, type, data };
    record.lastEventId = event.id;
    if (type === "progress") record.progress = data.progress as number;
    if (type === "complete") {
      record.progress = 100;
      record.article = data.article as string;
      record.sections = data.sections as string[];
    }
    this.lastWrite = this.#store.append(record.id, event).catch((error) =>
      this.#failed("event not stored", error)
    );
    if (type !== "delta") this.save();
    if (TERMINAL_EVENTS.has(type)) this.#onEnd?.(record);
  }

  /** Writes the record as it is now. */
  save(): void {
    this.lastWrite = this.#store.put(this.record).catch((error) =>
      this.#failed("job not stored", error)
    );
  }

  #failed(msg: string, error: unknown): void {
    // Once per job: a store that is down fails every write, and says so itself.
    if (this.unsaved) return;
    this.#logger.log("error", msg, { job: this.record.id, error: describeError(error) });
    this.unsaved = true;
    if (this.#stopWhenUnsaved) this.sealed = true;
    this.#onUnsaved?.();
  }
}
