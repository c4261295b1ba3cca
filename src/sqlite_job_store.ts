/**
 * The durable, embedded job store: one SQLite file (`node:sqlite`, no server to run) holding job
 * records and their full event logs, so jobs outlive restarts and crashes.
 *
 * Writes go to an in-memory write-behind buffer and reach the file in one transaction every few
 * milliseconds: the manager appends an event for every streamed chunk and never awaits the store,
 * and a transaction per event would cost far more than the work it records. A write's promise
 * resolves once its batch is in the file, so a caller that must not lose a write (accepting a
 * job) awaits it, and one that streams (every event) does not. Records read back at
 * once from the buffer. A running job's record is written again only when its status changes:
 * its progress is in its event log, which recovery reads (`restoreFromLog`), so rewriting a
 * growing record at every step cost more than all its events. Events are shown to readers only
 * once they are in the file, and
 * `onDurable` says when: a client must never see an event a crash could take back, or its
 * `Last-Event-ID` would point past the log the restarted service has.
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

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { FINISHED_STATUSES, type JobEvent, type JobRecord, type JobStatus } from "./job.ts";
import type { JobStore, PlacedEvent } from "./job_store.ts";
import { describeError } from "./retry.ts";
import { StoreUnavailableError } from "./store_unavailable_error.ts";

/** The file name inside the data directory. */
export const DATABASE_FILE = "quillflow.db";

/** The schema version this code writes; a newer file is refused rather than misread. */
const SCHEMA_VERSION = 3;

/** Options of a {@linkcode StoreOpenError}. */
export interface StoreOpenErrorOptions extends ErrorOptions {
  /** What the user can do about it; by default, how to start with another store. */
  advice?: string;
}

/** Thrown when the store cannot be opened or read: a clear start-up error, never an empty store. */
export class StoreOpenError extends Error {
  /** The database file. */
  readonly path: string;
  /** Creates the error for the file at `path`. */
  constructor(path: string, reason: string, options: StoreOpenErrorOptions = {}) {
    const {
      advice = "Move the file aside to start with an empty store, point DATA_DIR elsewhere, or " +
        "run with --store=memory",
      ...errorOptions
    } = options;
    super(`Cannot open the job store at ${path}: ${reason}. ${advice}.`, errorOptions);
    this.name = "StoreOpenError";
    this.path = path;
  }
}

/** Settings of a {@linkcode SqliteJobStore}. */
export interface SqliteJobStoreOptions {
  /**
   * Buffered writes reach the file this long after the first of them, in ms. Default 1: a group
   * commit of whatever the event loop did meanwhile. Under load that is hundreds of events per
   * transaction; when idle nobody waits (a POST waits for its job to be written, readers see
   * events once written). At 10 ms the closed-loop benchmark lost about a fifth of its throughput
   * to waiting, for no saving in CPU that it could measure.
   */
  flushMs?: number;
  /** A buffer of this many events is written at once, without waiting. Default 1 000. */
  maxBufferedEvents?: number;
  /** Told when a flush fails; the batch is kept and tried again. */
  onError?: (error: unknown) => void;
  /**
   * Opens the connection; `new DatabaseSync(path)` by default. A test that must fill the file
   * keeps the connection it returns, to set `PRAGMA max_page_count` on it.
   */
  openDatabase?: (path: string) => DatabaseSync;
}

interface Statements {
  putJob: StatementSync;
  getJob: StatementSync;
  listJobs: StatementSync;
  unfinishedJobs: StatementSync;
  deleteJob: StatementSync;
  deleteEvents: StatementSync;
  insertEvents: StatementSync;
  readEvents: StatementSync;
  lastEventId: StatementSync;
  readSince: StatementSync;
  lastPosition: StatementSync;
}

/**
 * Schema 2 had no order across jobs: its batches get no position, and the stream of every job,
 * which starts at the newest position, never needs them.
 */
const MIGRATE_FROM_2 = `
  ALTER TABLE event_batches ADD COLUMN seq_last INTEGER;
`;

/** Schema 1 kept one row per event: each becomes a batch of one. */
const MIGRATE_FROM_1 = `
  INSERT OR REPLACE INTO event_batches (job_id, first_id, last_id, events)
    SELECT job_id, id, id, json_array(json_object('id', id, 'type', type, 'data', json(data)))
    FROM events;
  DROP TABLE events;
`;

/** The first retry of a failed write, in ms; each failure doubles it, up to `MAX_RETRY_MS`. */
const MIN_RETRY_MS = 50;
/** The longest wait between two tries of a failed write, in ms: a full disk is retried this often. */
const MAX_RETRY_MS = 1_000;
/** Written events kept in memory per job, and jobs kept, for live readers. */
const TAIL_EVENTS = 256;
const TAIL_JOBS = 256;
/** Written events of every job kept in memory, in order, for live readers of every job. */
const RECENT_EVENTS = 4_096;

/** A written event in the order of every job's appends; `gone` once its job is deleted. */
interface RecentEvent {
  jobId: string;
  event: JobEvent;
  seq: number;
  gone?: boolean;
}

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
  readonly #db: DatabaseSync;
  readonly #sql: Statements;
  readonly #flushMs: number;
  readonly #maxBufferedEvents: number;
  readonly #onError: (error: unknown) => void;
  /** Records put since the last flush; serialised when flushed, so the newest state is written. */
  readonly #records = new Map<string, JobRecord>();
  /**
   * Records of unfinished jobs put again with the status they were last written with. A running
   * job's record changes with every step, but everything that changes is in its event log, which
   * is written anyway (the manager rebuilds the record from it after a crash: `restoreFromLog`).
   * So these wait here, read back from memory, until the status changes, `flush` or `close`.
   */
  readonly #unchanged = new Map<string, JobRecord>();
  /** The status each unfinished job's record was last written with. */
  readonly #writtenStatus = new Map<string, JobStatus>();
  /** Events appended since the last flush, per job, in id order. */
  readonly #events = new Map<string, JobEvent[]>();
  /**
   * The newest written events of recently active jobs. Live readers ask for just these, so they
   * are served from memory, not read back and parsed again.
   */
  readonly #tails = new Map<string, JobEvent[]>();
  readonly #deletes = new Set<string>();
  readonly #listeners: ((jobIds: Iterable<string>) => void)[] = [];
  /**
   * The newest written events of every job, positions contiguous: what live readers of every job
   * ask for, served without reading the file back.
   */
  #recent: RecentEvent[] = [];
  /**
   * The position of the newest written event in the order of every job's appends. Each batch
   * row holds `seq_last`, its last event's position; its events' positions run up to it.
   */
  #seq: number;
  #bufferedEvents = 0;
  /** Settles when the writes buffered so far are in the file. */
  #batch: PromiseWithResolvers<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushQueued = false;
  #closed = false;
  /** Why the last write failed; `undefined` once one succeeds. */
  #failure: unknown;
  #retryMs = MIN_RETRY_MS;
  /** Transactions committed; for tests and the benchmark. */
  flushes = 0;
  /** Jobs outlive the process. */
  readonly durable = true;

  private constructor(db: DatabaseSync, options: SqliteJobStoreOptions) {
    this.#db = db;
    this.#flushMs = options.flushMs ?? 1;
    this.#maxBufferedEvents = options.maxBufferedEvents ?? 1_000;
    this.#onError = options.onError ?? (() => {});
    this.#sql = {
      // An upsert, not INSERT OR REPLACE: replacing deletes the row and inserts it again, which
      // rewrites every index entry of the job; updating in place touches the status index only.
      putJob: db.prepare(
        "INSERT INTO jobs (id, created_at, status, record) VALUES (?, ?, ?, ?) " +
          "ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record",
      ),
      getJob: db.prepare("SELECT record FROM jobs WHERE id = ?"),
      listJobs: db.prepare("SELECT record FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?"),
      unfinishedJobs: db.prepare(
        "SELECT record FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at, rowid",
      ),
      deleteJob: db.prepare("DELETE FROM jobs WHERE id = ?"),
      deleteEvents: db.prepare("DELETE FROM event_batches WHERE job_id = ?"),
      insertEvents: db.prepare(
        "INSERT OR REPLACE INTO event_batches (job_id, first_id, last_id, events, seq_last) " +
          "VALUES (?, ?, ?, ?, ?)",
      ),
      readEvents: db.prepare(
        "SELECT events FROM event_batches WHERE job_id = ? AND last_id > ? " +
          "ORDER BY first_id LIMIT ?",
      ),
      lastEventId: db.prepare("SELECT MAX(last_id) AS id FROM event_batches WHERE job_id = ?"),
      readSince: db.prepare(
        "SELECT job_id, first_id, last_id, seq_last, events FROM event_batches " +
          "WHERE seq_last > ? ORDER BY seq_last LIMIT ?",
      ),
      lastPosition: db.prepare("SELECT MAX(seq_last) AS seq FROM event_batches"),
    };
    this.#seq = Number(this.#sql.lastPosition.get()?.seq ?? 0);
  }

  /**
   * Opens (creating if needed) the database at `path`, or `:memory:` for a throwaway one. Checks
   * the file is a readable Quillflow database and takes an exclusive lock, so a second process on
   * the same file fails here instead of running the same jobs twice. Throws
   * {@linkcode StoreOpenError}.
   */
  static open(path: string, options: SqliteJobStoreOptions = {}): SqliteJobStore {
    let db: DatabaseSync | undefined;
    try {
      db = options.openDatabase?.(path) ?? new DatabaseSync(path);
      db.exec("PRAGMA busy_timeout = 0");
      db.exec("PRAGMA locking_mode = EXCLUSIVE");
      db.exec("PRAGMA journal_mode = WAL");
      // WAL with NORMAL sync survives a process crash; only a power cut may lose the last batch.
      db.exec("PRAGMA synchronous = NORMAL");
      const check = db.prepare("PRAGMA quick_check").all().map((row) => String(row.quick_check));
      if (check.length !== 1 || check[0] !== "ok") {
        throw new Error(`the integrity check failed (${check.slice(0, 3).join("; ")})`);
      }
      const version = Number(db.prepare("PRAGMA user_version").get()?.user_version ?? 0);
      if (version > SCHEMA_VERSION) {
        throw new Error(
          `it was written by a newer Quillflow (schema ${version}; this one knows ${SCHEMA_VERSION})`,
        );
      }
      const fromOne = version === 1 &&
        db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").get();
      const fromTwo = version === 2;
      db.exec(`
        BEGIN IMMEDIATE;
        CREATE TABLE IF NOT EXISTS jobs (
          id TEXT PRIMARY KEY,
          created_at INTEGER NOT NULL,
          status TEXT NOT NULL,
          record TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at);
        CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status);
        -- One row per job per group commit: the job's events of that batch (ids first_id to
        -- last_id) as a JSON array. Half the CPU of a row per event when a commit holds several
        -- of a job's events. A rowid table, not WITHOUT ROWID: rows carry kilobytes of text, and
        -- SQLite's WITHOUT ROWID layout suits small rows only (measured 2.6x slower to insert).
        -- seq_last: the position of the batch's last event in the order of every job's appends.
        CREATE TABLE IF NOT EXISTS event_batches (
          job_id TEXT NOT NULL,
          first_id INTEGER NOT NULL,
          last_id INTEGER NOT NULL,
          events TEXT NOT NULL,
          seq_last INTEGER,
          PRIMARY KEY (job_id, first_id)
        );
        ${fromOne ? MIGRATE_FROM_1 : ""}
        ${fromTwo ? MIGRATE_FROM_2 : ""}
        CREATE INDEX IF NOT EXISTS event_batches_by_seq ON event_batches (seq_last)
          WHERE seq_last IS NOT NULL;
        PRAGMA user_version = ${SCHEMA_VERSION};
        COMMIT;
      `);
      return new SqliteJobStore(db, options);
    } catch (error) {
      try {
        db?.close();
      } catch {
        // already failing: the first error is the one to report
      }
      if (isLocked(error)) {
        throw new StoreOpenError(
          path,
          "another process is using it (the database is locked), most likely another Quillflow " +
            "serving from the same DATA_DIR",
          {
            cause: error,
            advice: "Stop that process first, or give this one its own store: another DATA_DIR " +
              "or --store=memory",
          },
        );
      }
      const reason = error instanceof Error ? error.message : String(error);
      throw new StoreOpenError(path, reason, { cause: error });
    }
  }

  /**
   * Buffers `job`; resolves once it is in the file. A record whose status is the one last written
   * waits for the next status change instead, and resolves at once (see `#unchanged`).
   */
  put(job: JobRecord): Promise<void> {
    this.#deletes.delete(job.id);
    if (!this.#records.has(job.id) && this.#writtenStatus.get(job.id) === job.status) {
      this.#unchanged.set(job.id, job);
      return Promise.resolve();
    }
    this.#unchanged.delete(job.id);
    const written = this.#written();
    this.#records.set(job.id, job);
    this.#schedule();
    return written;
  }

  get(id: string): Promise<JobRecord | undefined> {
    const buffered = this.#records.get(id) ?? this.#unchanged.get(id);
    if (buffered) return Promise.resolve(buffered);
    if (this.#deletes.has(id)) return Promise.resolve(undefined);
    const row = this.#sql.getJob.get(id);
    return Promise.resolve(row ? this.#parseRecord(row.record) : undefined);
  }

  list(limit: number): Promise<JobRecord[]> {
    const byId = new Map<string, JobRecord>();
    // Rows for records still buffered may be stale or deleted: the buffer wins.
    const rows = this.#sql.listJobs.all(limit + this.#records.size + this.#deletes.size);
    for (const row of rows) {
      const record = this.#parseRecord(row.record);
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
    this.#flush();
    const records = this.#sql.unfinishedJobs.all().map((row) => this.#parseRecord(row.record));
    for (const record of records) {
      const last = Number(this.#sql.lastEventId.get(record.id)?.id ?? 0);
      record.lastEventId = Math.max(record.lastEventId, last);
    }
    return Promise.resolve(records);
  }

  /**
   * Buffers the deletion; resolves once it is in the file. A job never written (refused while
   * its first write waited) is only dropped from the buffer: there is nothing to write.
   */
  delete(id: string): Promise<void> {
    const inFile = this.#sql.getJob.get(id) !== undefined ||
      this.#sql.lastEventId.get(id)?.id != null;
    const written = inFile ? this.#written() : Promise.resolve();
    this.#records.delete(id);
    this.#unchanged.delete(id);
    this.#writtenStatus.delete(id);
    const dropped = this.#events.get(id);
    if (dropped) this.#bufferedEvents -= dropped.length;
    this.#events.delete(id);
    this.#tails.delete(id);
    for (const recent of this.#recent) if (recent.jobId === id) recent.gone = true;
    if (!inFile) return written;
    this.#deletes.add(id);
    this.#schedule();
    return written;
  }

  /** Buffers `event`; resolves once it is in the file. */
  append(jobId: string, event: JobEvent): Promise<void> {
    const written = this.#written();
    let log = this.#events.get(jobId);
    if (!log) this.#events.set(jobId, log = []);
    log.push(event);
    this.#bufferedEvents++;
    // While writes fail, the retry's backoff decides when to try again, however much waits.
    if (this.#bufferedEvents >= this.#maxBufferedEvents && this.#failure === undefined) {
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

  /** Up to `limit` events with ids above `afterId` that are in the file; see `onDurable`. */
  events(jobId: string, afterId: number, limit: number): Promise<JobEvent[]> {
    if (this.#deletes.has(jobId)) return Promise.resolve([]);
    const tail = this.#tails.get(jobId);
    const first = tail?.[0]?.id;
    if (tail && first !== undefined && first <= afterId + 1) {
      const from = afterId + 1 - first;
      return Promise.resolve(tail.slice(from, from + limit));
    }
    // Every batch holds at least one event: `limit` batches hold enough.
    const out: JobEvent[] = [];
    let last = afterId;
    for (const row of this.#sql.readEvents.all(jobId, afterId, limit)) {
      for (const event of JSON.parse(String(row.events)) as JobEvent[]) {
        if (event.id <= last) continue;
        out.push(event);
        last = event.id;
        if (out.length === limit) return Promise.resolve(out);
      }
    }
    return Promise.resolve(out);
  }

  /** The position of the newest event in the file, in the order of every job's appends. */
  headPosition(): Promise<string> {
    return Promise.resolve(String(this.#seq));
  }

  /** Up to `limit` events in the file after `position`, of any job, in the order they were written. */
  eventsSince(position: string, limit: number): Promise<PlacedEvent[]> {
    const after = parseInt(position, 10);
    const out: PlacedEvent[] = [];
    const first = this.#recent[0]?.seq;
    if (first !== undefined && first <= after + 1) {
      for (let i = after + 1 - first; i < this.#recent.length && out.length < limit; i++) {
        const { jobId, event, seq, gone } = this.#recent[i] as RecentEvent;
        if (!gone && !this.#deletes.has(jobId)) out.push({ jobId, event, position: String(seq) });
      }
      return Promise.resolve(out);
    }
    // Older than what is kept in memory: read the batches back. Every batch holds at least one
    // event, so `limit` of them hold enough, unless deleted jobs' rows left gaps (read on, then).
    let from = after;
    for (;;) {
      const rows = this.#sql.readSince.all(from, limit);
      for (const row of rows) {
        const seqLast = Number(row.seq_last);
        const seqFirst = seqLast - (Number(row.last_id) - Number(row.first_id));
        const jobId = String(row.job_id);
        from = seqLast;
        if (this.#deletes.has(jobId)) continue;
        const events = JSON.parse(String(row.events)) as JobEvent[];
        events.forEach((event, i) => {
          const seq = seqFirst + i;
          if (seq > after && out.length < limit) {
            out.push({ jobId, event, position: String(seq) });
          }
        });
        if (out.length === limit) return Promise.resolve(out);
      }
      if (rows.length < limit) return Promise.resolve(out);
    }
  }

  /** Calls `listener` with the jobs whose logs grew after each write to the file. */
  onDurable(listener: (jobIds: Iterable<string>) => void): void {
    this.#listeners.push(listener);
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
      this.#db.close();
    }
  }

  /** `null` while writes succeed; else why the last one failed (it is being tried again). */
  health(): Promise<string | null> {
    return Promise.resolve(
      this.#failure === undefined ? null : `cannot write: ${describeError(this.#failure)}`,
    );
  }

  #written(): Promise<void> {
    if (!this.#batch) {
      this.#batch = Promise.withResolvers();
      // Most writers do not wait; a failure is reported through `onError` all the same.
      this.#batch.promise.catch(() => {});
    }
    return this.#batch.promise;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => this.#flush(), this.#flushMs);
  }

  #flush(rethrow = false): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#records.size === 0 && this.#events.size === 0 && this.#deletes.size === 0) {
      // Nothing is waiting to be written (what failed was dropped): nothing is failing either.
      this.#recovered();
      this.#settle();
      return;
    }
    const sql = this.#sql;
    // Positions are taken only once the transaction commits.
    let seq = this.#seq;
    try {
      this.#db.exec("BEGIN");
      for (const id of this.#deletes) {
        sql.deleteJob.run(id);
        sql.deleteEvents.run(id);
      }
      for (const [jobId, log] of this.#events) {
        const first = (log[0] as JobEvent).id;
        seq += log.length;
        sql.insertEvents.run(jobId, first, (log.at(-1) as JobEvent).id, JSON.stringify(log), seq);
      }
      for (const record of this.#records.values()) {
        sql.putJob.run(record.id, record.createdAt, record.status, JSON.stringify(record));
      }
      this.#db.exec("COMMIT");
      for (const record of this.#records.values()) {
        if (FINISHED_STATUSES.has(record.status)) this.#writtenStatus.delete(record.id);
        else this.#writtenStatus.set(record.id, record.status);
      }
    } catch (error) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // no transaction left to roll back
      }
      // Keep the batch, in order: a full disk may have room again later. Its waiters learn now.
      this.#failure = error;
      this.#onError(error);
      // Clients see this message: it names no path on the server.
      const unavailable = new StoreUnavailableError("The job store", {
        problem: "cannot be written",
        cause: error,
      });
      this.#settle(unavailable);
      if (!this.#closed) {
        this.#timer = setTimeout(() => this.#flush(), this.#retryMs);
        this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
      }
      if (rethrow) throw unavailable;
      return;
    }
    this.#recovered();
    this.flushes++;
    const grown = [...this.#events.keys()];
    for (const [jobId, log] of this.#events) {
      this.#keepTail(jobId, log);
      for (const event of log) this.#recent.push({ jobId, event, seq: ++this.#seq });
    }
    if (this.#recent.length > 2 * RECENT_EVENTS) {
      this.#recent = this.#recent.slice(-RECENT_EVENTS);
    }
    this.#records.clear();
    this.#events.clear();
    this.#deletes.clear();
    this.#bufferedEvents = 0;
    this.#settle();
    for (const listener of this.#listeners) listener(grown);
  }

  #recovered(): void {
    this.#failure = undefined;
    this.#retryMs = MIN_RETRY_MS;
  }

  #keepTail(jobId: string, written: JobEvent[]): void {
    let tail = this.#tails.get(jobId);
    // Ids are contiguous; a tail that does not end where this batch starts is stale.
    if (!tail || (tail.at(-1)?.id ?? 0) + 1 !== written[0]?.id) tail = [];
    else this.#tails.delete(jobId); // re-inserted below: the Map's order is recency
    tail.push(...written);
    if (tail.length > TAIL_EVENTS) tail.splice(0, tail.length - TAIL_EVENTS);
    this.#tails.set(jobId, tail);
    if (this.#tails.size > TAIL_JOBS) {
      this.#tails.delete(this.#tails.keys().next().value as string);
    }
  }

  #settle(error?: unknown): void {
    const batch = this.#batch;
    this.#batch = undefined;
    if (error === undefined) batch?.resolve();
    else batch?.reject(error);
  }

  #parseRecord(raw: unknown): JobRecord {
    try {
      return JSON.parse(String(raw)) as JobRecord;
    } catch (error) {
      throw new SyntaxError(
        `The job store holds an unreadable job record (${(error as Error).message})`,
        { cause: error },
      );
    }
  }
}

/** Whether opening failed because another connection holds the file (SQLITE_BUSY). */
function isLocked(error: unknown): boolean {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return (typeof code === "number" && (code & 0xff) === 5) ||
    (error instanceof Error && /database is locked/.test(error.message));
}
