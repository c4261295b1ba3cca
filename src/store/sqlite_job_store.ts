/**
 * The durable, embedded job store: one SQLite file (`node:sqlite`, no server to run) holding job
 * records and their full event logs, so jobs outlive restarts and crashes.
 *
 * Writes go to an in-memory write-behind buffer and reach the file in one transaction every few
 * milliseconds: the manager appends an event for every streamed chunk and never awaits the store,
 * and a transaction per event would cost far more than the work it records. A write's promise
 * resolves once its batch is in the file, so a caller that must not lose a write (accepting a
 * job) awaits it, and one that streams (every event) does not. Records read back at once from
 * the buffer, and the newest written from memory (`written_records.ts`), so a client asking for a
 * job that just finished costs no read of the file. A running job's record is written again only
 * when its status changes: its progress is in its event log, which recovery reads
 * (`restoreFromLog`), so rewriting a growing record at every step cost more than all its events.
 * Events are shown to readers only once they are in the file, and `onDurable` says when: a client
 * must never see an event a crash could take back, or its `Last-Event-ID` would point past the
 * log the restarted service has.
 *
 * A batch that cannot be written (a full disk, an I/O error) is kept, in order, and tried again
 * with a growing delay (at most a second); the writers waiting on it are told at once with a
 * {@linkcode StoreUnavailableError}, so a submit answers `503` instead of hanging, and `health`
 * reports the trouble until a write succeeds. Running jobs go on meanwhile: their events wait in
 * memory, unseen by readers, and reach the file and the readers together once it has room, with
 * no gap in their ids.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { JobEvent, JobRecord } from "../core/job.ts";
import type { JobStore, PlacedEvent } from "../core/job_store.ts";
import { ReleasingMap } from "../core/releasing_map.ts";
import { StoreUnavailableError } from "../core/store_unavailable_error.ts";
import {
  parseRecord,
  prepareStatements,
  readEventsAfter,
  readPlacedSince,
  readUnfinished,
  type Statements,
} from "./sqlite_schema.ts";
import { JobWatchers } from "./job_watchers.ts";
import type { SqliteJobStoreOptions } from "./sqlite_job_store_options.ts";
import { WriteRetry } from "./write_retry.ts";
import { PendingBatch } from "./pending_batch.ts";
import { WrittenEvents } from "./written_events.ts";
import { WrittenRecords } from "./written_records.ts";
import { SqliteFile } from "./sqlite_file.ts";

export { DATABASE_FILE } from "./sqlite_schema.ts";
export { StoreOpenError, type StoreOpenErrorOptions } from "./store_open_error.ts";
export type { SqliteJobStoreOptions } from "./sqlite_job_store_options.ts";

/**
 * Job records and event logs in a SQLite file, with writes grouped into short transactions.
 *
 * @example
 * ```ts
 * import { SqliteJobStore } from "./sqlite_job_store.ts";
 * import assert from "node:assert/strict";
 *
 * const store = SqliteJobStore.open(":memory:");
 * await store.append("j", { id: 1, type: "status", data: { status: "queued" } });
 * await store.append("j", { id: 2, type: "cancelled", data: {} });
 * // Readers see events once they are written: a few ms later, or now with `flush`.
 * await store.flush();
 * assert.deepEqual((await store.events("j", 1, 10)).map((e) => e.id), [2]);
 * await store.close();
 * ```
 */
export class SqliteJobStore implements JobStore {
  readonly #file: SqliteFile;
  readonly #db: DatabaseSync;
  readonly #sql: Statements;
  readonly #flushMs: number;
  readonly #maxBufferedEvents: number;
  readonly #onError: (error: unknown) => void;
  // A batch (records, events, deletes, changes) is new after each commit, not a cleared one: see
  // `ReleasingMap` for what a cleared long-lived map keeps alive. Records are serialised when
  // flushed, so the newest state is written.
  #records = new Map<string, JobRecord>();
  /**
   * Records of unfinished jobs put again with the status they were last written with. A running
   * job's record changes with every step, but everything that changes is in its event log, which
   * is written anyway (the manager rebuilds the record from it after a crash: `restoreFromLog`).
   * So these wait here, read back from memory, until the status changes, `flush` or `close`.
   */
  readonly #unchanged = new ReleasingMap<string, JobRecord>();
  /** The status each unfinished record was last written with, and the newest records written. */
  readonly #written = new WrittenRecords();
  /** Events appended since the last flush, per job, in id order. */
  #events = new Map<string, JobEvent[]>();
  #deletes = new Set<string>();
  /** Writes of other modules' tables since the last flush, in order (see `alsoWrite`). */
  #changes: ((db: DatabaseSync) => void)[] = [];
  readonly #listeners: ((jobIds: Iterable<string>) => void)[] = [];
  readonly #watchers = new JobWatchers();
  /** The newest written events, for live readers (see `written_events.ts`). */
  readonly #kept = new WrittenEvents();
  /** The newest written event's position in every job's appends (a batch row's `seq_last`). */
  #seq: number;
  #bufferedEvents = 0;
  /** Settles when the writes buffered so far are in the file. */
  readonly #batch = new PendingBatch();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushQueued = false;
  #closed = false;
  readonly #retry = new WriteRetry();
  /** Transactions committed; for tests and the benchmark. */
  flushes = 0;
  /** Jobs outlive the process. */
  readonly durable = true;

  private constructor(file: SqliteFile, options: SqliteJobStoreOptions) {
    this.#file = file;
    const db = this.#db = file.db;
    file.onRelease = () => this.#schedule();
    this.#flushMs = options.flushMs ?? 1;
    this.#maxBufferedEvents = options.maxBufferedEvents ?? 1_000;
    this.#onError = options.onError ?? (() => {});
    this.#sql = prepareStatements(db);
    this.#seq = Number(this.#sql.lastPosition.get()?.seq ?? 0);
  }

  /** Opens the store on the file at `path` (see `openSqliteDatabase`); throws `StoreOpenError`. */
  static open(path: string, options: SqliteJobStoreOptions = {}): SqliteJobStore {
    const file = SqliteFile.open(path, options.openDatabase, options.onError ?? (() => {}));
    return new SqliteJobStore(file, options);
  }

  /**
   * Buffers `job`; resolves once it is in the file. A record whose status is the one last written
   * waits for the next status change instead, and resolves at once (see `#unchanged`).
   */
  put(job: JobRecord): Promise<void> {
    this.#deletes.delete(job.id);
    if (!this.#records.has(job.id) && this.#written.statusOf(job.id) === job.status) {
      this.#unchanged.set(job.id, job);
      return Promise.resolve();
    }
    this.#unchanged.delete(job.id);
    const written = this.#batch.written();
    this.#records.set(job.id, job);
    this.#schedule();
    return written;
  }

  get(id: string): Promise<JobRecord | undefined> {
    const buffered = this.#records.get(id) ?? this.#unchanged.get(id) ?? this.#written.get(id);
    if (buffered) return Promise.resolve(buffered);
    if (this.#deletes.has(id)) return Promise.resolve(undefined);
    const row = this.#sql.getJob.get(id);
    return Promise.resolve(row ? parseRecord(row.record) : undefined);
  }

  list(limit: number): Promise<JobRecord[]> {
    const byId = new Map<string, JobRecord>();
    // Rows for records still buffered may be stale or deleted: the buffer wins.
    const rows = this.#sql.listJobs.all(limit + this.#records.size + this.#deletes.size);
    for (const row of rows) {
      const record = parseRecord(row.record);
      if (!this.#deletes.has(record.id)) byId.set(record.id, record);
    }
    for (const record of this.#unchanged.values()) byId.set(record.id, record);
    for (const record of this.#records.values()) byId.set(record.id, record);
    const all = [...byId.values()].sort((a, b) => b.createdAt - a.createdAt);
    return Promise.resolve(all.slice(0, limit));
  }

  /**
   * Jobs that are queued or running, oldest first. `lastEventId` is taken from the log, which may
   * be ahead of the record: text deltas are appended without the record being written again.
   */
  unfinished(): Promise<JobRecord[]> {
    this.#flush(false, false);
    return Promise.resolve(readUnfinished(this.#sql));
  }

  /**
   * Buffers the deletion; resolves once it is in the file. A job never written (refused while
   * its first write waited) is only dropped from the buffer: there is nothing to write.
   */
  delete(id: string): Promise<void> {
    const inFile = this.#sql.getJob.get(id) !== undefined ||
      this.#sql.lastEventId.get(id)?.id != null;
    const written = inFile ? this.#batch.written() : Promise.resolve();
    this.#records.delete(id);
    this.#unchanged.delete(id);
    this.#written.forget(id);
    const dropped = this.#events.get(id);
    if (dropped) this.#bufferedEvents -= dropped.length;
    this.#events.delete(id);
    this.#kept.forget(id);
    if (!inFile) return written;
    this.#deletes.add(id);
    this.#schedule();
    return written;
  }

  /** Buffers `event`; resolves once it is in the file. */
  append(jobId: string, event: JobEvent): Promise<void> {
    const written = this.#batch.written();
    let log = this.#events.get(jobId);
    if (!log) this.#events.set(jobId, log = []);
    log.push(event);
    this.#bufferedEvents++;
    // While writes fail, the retry's backoff decides when to try again, however much waits.
    if (this.#bufferedEvents >= this.#maxBufferedEvents && !this.#retry.failing) {
      // Not synchronously: the record put that follows a terminal event in the same turn must go
      // in the same transaction, or a crash between them would leave a finished log on a record
      // that says "running".
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        queueMicrotask(() => {
          this.#flushQueued = false;
          if (!this.#closed) this.#flush();
        });
      }
    } else {
      this.#schedule();
    }
    return written;
  }

  /** The connection, for a module that keeps tables of its own in this file (and creates them). */
  get database(): DatabaseSync {
    return this.#db;
  }

  /**
   * Buffers `change`, a write of another module's tables, to run in the next batch's
   * transaction after the job writes buffered before it; resolves once the batch is in the file.
   * What one turn buffers here and through the other methods is committed together, so a row
   * that must exist exactly when a job write does (a webhook delivery of a job's end) goes in
   * the same transaction. A batch that fails is tried again, `change` with it.
   *
   * @example
   * ```ts
   * import { SqliteJobStore } from "./sqlite_job_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = SqliteJobStore.open(":memory:");
   * store.database.exec("CREATE TABLE notes (job_id TEXT)");
   * const insert = store.database.prepare("INSERT INTO notes VALUES (?)");
   * const job = store.put({
   *   id: "j", topic: "t", status: "completed", progress: 100, step: "style",
   *   provider: "offline", model: null, createdAt: 0, lastEventId: 0,
   * });
   * await Promise.all([job, store.alsoWrite(() => insert.run("j"))]);
   * assert.equal(store.flushes, 1, "one transaction");
   * await store.close();
   * ```
   */
  alsoWrite(change: (db: DatabaseSync) => void): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new StoreUnavailableError("The job store", { problem: "is closed" }));
    }
    const written = this.#batch.written();
    this.#changes.push(change);
    this.#schedule();
    return written;
  }

  /** Up to `limit` events with ids above `afterId` that are in the file; see `onDurable`. */
  events(jobId: string, afterId: number, limit: number): Promise<JobEvent[]> {
    if (this.#deletes.has(jobId)) return Promise.resolve([]);
    const kept = this.#kept.tail(jobId, afterId, limit);
    if (kept) return Promise.resolve(kept);
    return Promise.resolve(readEventsAfter(this.#sql, jobId, afterId, limit));
  }

  /** The position of the newest event in the file, in the order of every job's appends. */
  headPosition(): Promise<string> {
    return Promise.resolve(String(this.#seq));
  }

  /** Up to `limit` events in the file after `position`, of any job, in the order they were written. */
  eventsSince(position: string, limit: number): Promise<PlacedEvent[]> {
    const after = parseInt(position, 10);
    const kept = this.#kept.since(after, limit, (jobId) => this.#deletes.has(jobId));
    if (kept) return Promise.resolve(kept);
    // Older than what is kept in memory: read the batches back.
    return Promise.resolve(
      readPlacedSince(this.#sql, after, limit, (jobId) => this.#deletes.has(jobId)),
    );
  }

  /** Calls `listener` with the jobs whose logs grew after each write to the file. */
  onDurable(listener: (jobIds: Iterable<string>) => void): void {
    this.#listeners.push(listener);
  }

  /** Never at once: events show once they are in the file, see `watch`. */
  eventsNow(): null {
    return null;
  }

  /** Never at once: see `eventsNow`. */
  eventsSinceNow(): null {
    return null;
  }

  /** Calls `onAppend` once new events of `jobId` are in the file (see `onDurable`). */
  watch(jobId: string, onAppend: () => void): () => void {
    return this.#watchers.watch(jobId, onAppend);
  }

  /** Calls `onAppend` once new events of any job are in the file. */
  watchAll(onAppend: () => void): () => void {
    return this.#watchers.watchAll(onAppend);
  }

  /** Writes everything buffered now, records waiting for a status change too, in one transaction. */
  flush(): Promise<void> {
    for (const [id, record] of this.#unchanged) this.#records.set(id, record);
    this.#unchanged.clear();
    this.#flush(true);
    return Promise.resolve();
  }

  /**
   * Writes what is buffered and closes the file. Rejects with a
   * {@linkcode StoreUnavailableError} when that last write fails; the file is closed all the
   * same, and what was never written is what the next start does not find.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.flush();
    } finally {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      await this.#file.close();
    }
  }

  /** `null` while writes and checkpoints succeed; else why not (a failed write is retried). */
  health(): Promise<string | null> {
    return Promise.resolve(this.#retry.health() ?? this.#file.health());
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => this.#flush(), this.#flushMs);
  }

  /** `mayWait`: a quiet WAL checkpoint may hold the commit (it calls `#schedule` after). */
  #flush(rethrow = false, mayWait = !rethrow): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (
      this.#records.size === 0 && this.#events.size === 0 && this.#deletes.size === 0 &&
      this.#changes.length === 0
    ) {
      // Nothing is waiting to be written (what failed was dropped): nothing is failing either.
      this.#retry.recovered();
      this.#batch.settle();
      return;
    }
    if (mayWait && this.#file.holdsCommits) return;
    try {
      this.#file.write(this.#sql, {
        deletes: this.#deletes,
        events: this.#events,
        records: this.#records,
        changes: this.#changes,
      }, this.#seq);
      this.#written.add(this.#records.values());
    } catch (error) {
      // Keep the batch, in order: a full disk may have room again later. Its waiters learn now.
      this.#retry.failed(error);
      this.#onError(error);
      // Clients see this message: it names no path on the server.
      const unavailable = new StoreUnavailableError("The job store", {
        problem: "cannot be written",
        cause: error,
      });
      this.#batch.settle(unavailable);
      if (!this.#closed) {
        this.#timer = setTimeout(() => this.#flush(), this.#retry.nextDelay());
      }
      if (rethrow) throw unavailable;
      return;
    }
    this.#retry.recovered();
    this.flushes++;
    const grown = [...this.#events.keys()];
    for (const [jobId, log] of this.#events) this.#seq = this.#kept.add(jobId, log, this.#seq);
    this.#records = new Map();
    this.#events = new Map();
    this.#deletes = new Set();
    this.#changes = [];
    this.#bufferedEvents = 0;
    this.#batch.settle();
    for (const listener of this.#listeners) listener(grown);
    this.#watchers.notify(grown);
  }
}
