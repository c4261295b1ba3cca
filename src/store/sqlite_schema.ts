/**
 * The SQLite file of the durable store: opening it (checks, the lock that keeps other processes
 * out, WAL), its schema and migrations, and the statements the store runs.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { JobEvent, JobRecord } from "../core/job.ts";
import type { PlacedEvent } from "../core/job_store.ts";
import { StoreOpenError } from "./store_open_error.ts";
import { lockDataFile } from "./data_file_lock.ts";

/** The file name inside the data directory. */
export const DATABASE_FILE = "quillflow.db";

/** The schema version this code writes; a newer file is refused rather than misread. */
const SCHEMA_VERSION = 3;

/** The statements {@linkcode SqliteJobStore} runs, prepared once. */
export interface Statements {
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

/** An open database and the lock that keeps other processes off it. */
export interface OpenedDatabase {
  db: DatabaseSync;
  /** Held until the store closes; none for `:memory:`. */
  lock: Deno.FsFile | undefined;
}

/**
 * Opens (creating if needed) the database at `path`, or `:memory:` for a throwaway one. Checks
 * the file is a readable Quillflow database and takes the lock of `data_file_lock.ts`, so a
 * second process on the same file fails here instead of running the same jobs twice. Throws
 * {@linkcode StoreOpenError}.
 */
export function openSqliteDatabase(
  path: string,
  openDatabase: (path: string) => DatabaseSync = (path) => new DatabaseSync(path),
): OpenedDatabase {
  let db: DatabaseSync | undefined;
  let lock: Deno.FsFile | undefined;
  try {
    // Opened first: a path that cannot be a database (a folder) fails here, with no lock file
    // left beside it.
    db = openDatabase(path);
    if (path !== ":memory:") {
      lock = lockDataFile(path);
      if (!lock) throw new DataFileLocked();
    }
    db.exec("PRAGMA busy_timeout = 0");
    // Normal locking mode, not EXCLUSIVE: the checkpoint worker's connection must open the file
    // too (an exclusive connection keeps the WAL index in its own memory). The lock above keeps
    // other processes out instead.
    db.exec("PRAGMA journal_mode = WAL");
    // WAL with NORMAL sync survives a process crash; only a power cut may lose the last batch.
    db.exec("PRAGMA synchronous = NORMAL");
    // This connection never checkpoints: a checkpoint inside a COMMIT blocked the event loop for
    // its writes and fsyncs. `WalCheckpointer` runs them in a Worker, every 128 pages, and the WAL
    // is cut down to 1 MiB when it starts over, not SQLite's 4 MiB: on a small data disk a WAL
    // that size fills it again after space is freed, and every later write fails.
    db.exec("PRAGMA wal_autocheckpoint = 0");
    db.exec("PRAGMA journal_size_limit = 1048576");
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
    return { db, lock };
  } catch (error) {
    try {
      db?.close();
    } catch {
      // already failing: the first error is the one to report
    }
    lock?.close();
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
 * Up to `limit` events of any job after position `after`, read back from the batches, those of
 * jobs `deleted` says are gone left out. Every batch holds at least one event, so `limit` of them
 * hold enough, unless deleted jobs' rows left gaps (read on, then).
 */
export function readPlacedSince(
  sql: Statements,
  after: number,
  limit: number,
  deleted: (jobId: string) => boolean,
): PlacedEvent[] {
  const out: PlacedEvent[] = [];
  let from = after;
  for (;;) {
    const rows = sql.readSince.all(from, limit);
    for (const row of rows) {
      const seqLast = Number(row.seq_last);
      const seqFirst = seqLast - (Number(row.last_id) - Number(row.first_id));
      const jobId = String(row.job_id);
      from = seqLast;
      if (deleted(jobId)) continue;
      const events = JSON.parse(String(row.events)) as JobEvent[];
      events.forEach((event, i) => {
        const seq = seqFirst + i;
        if (seq > after && out.length < limit) out.push({ jobId, event, position: String(seq) });
      });
      if (out.length === limit) return out;
    }
    if (rows.length < limit) return out;
  }
}

/** Up to `limit` events of job `jobId` with ids above `afterId`, read back from its batches. */
export function readEventsAfter(
  sql: Statements,
  jobId: string,
  afterId: number,
  limit: number,
): JobEvent[] {
  // Every batch holds at least one event: `limit` batches hold enough.
  const out: JobEvent[] = [];
  let last = afterId;
  for (const row of sql.readEvents.all(jobId, afterId, limit)) {
    for (const event of JSON.parse(String(row.events)) as JobEvent[]) {
      if (event.id <= last) continue;
      out.push(event);
      last = event.id;
      if (out.length === limit) return out;
    }
  }
  return out;
}

/**
 * The records of queued and running jobs, oldest first, each `lastEventId` taken from its log
 * when that is ahead (text deltas are appended without the record being written again).
 */
export function readUnfinished(sql: Statements): JobRecord[] {
  const records = sql.unfinishedJobs.all().map((row) => parseRecord(row.record));
  for (const record of records) {
    const last = Number(sql.lastEventId.get(record.id)?.id ?? 0);
    record.lastEventId = Math.max(record.lastEventId, last);
  }
  return records;
}

/** A record as stored in a `jobs` row; throws a `SyntaxError` when it cannot be read. */
export function parseRecord(raw: unknown): JobRecord {
  try {
    return JSON.parse(String(raw)) as JobRecord;
  } catch (error) {
    throw new SyntaxError(
      `The job store holds an unreadable job record (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/** Prepares the statements of {@linkcode Statements} on `db`. */
export function prepareStatements(db: DatabaseSync): Statements {
  return {
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
}

/** The lock file is held: another process (or store) has the database. */
class DataFileLocked extends Error {
  constructor() {
    super("the database is locked");
  }
}

/**
 * Whether opening failed because another process holds the file: its lock file, or the file
 * itself (SQLITE_BUSY: an older Quillflow, which locked the database file exclusively).
 */
function isLocked(error: unknown): boolean {
  if (error instanceof DataFileLocked) return true;
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return (typeof code === "number" && (code & 0xff) === 5) ||
    (error instanceof Error && /database is locked/.test(error.message));
}
