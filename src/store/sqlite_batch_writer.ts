/**
 * One batch of the SQLite store's buffered writes, committed as one transaction: deletions,
 * then events, then records, then other modules' writes (`alsoWrite`), in that order.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { JobEvent, JobRecord } from "../core/job.ts";
import type { Statements } from "./sqlite_schema.ts";

/** The writes buffered since the last commit. */
export interface SqliteBatch {
  /** Jobs to delete, with their logs. */
  deletes: Iterable<string>;
  /** Events appended, per job, in id order. */
  events: Map<string, JobEvent[]>;
  /** Records put, the newest state of each. */
  records: Map<string, JobRecord>;
  /** Writes of other modules' tables, in order. */
  changes: readonly ((db: DatabaseSync) => void)[];
}

/** Bytes of row text that fill about one page. */
const PAGE_BYTES = 4_000;

/**
 * Writes `batch` in one transaction, its events placed after position `seq`; rolls back and
 * rethrows when any write fails, so the batch is all in the file or none of it. Returns about
 * how many pages the commit wrote to the WAL, on the high side: its text by the page, plus two
 * pages per row for the leaves it touches: what `wal_checkpointer.ts` counts when it cannot read
 * the real number from the WAL index.
 */
export function writeBatch(
  db: DatabaseSync,
  sql: Statements,
  batch: SqliteBatch,
  seq: number,
): number {
  // Positions are taken (by the caller) only once the transaction commits.
  let bytes = 0;
  let rows = 0;
  try {
    db.exec("BEGIN");
    for (const id of batch.deletes) {
      sql.deleteJob.run(id);
      sql.deleteEvents.run(id);
      rows += 2;
    }
    for (const [jobId, log] of batch.events) {
      const first = (log[0] as JobEvent).id;
      seq += log.length;
      const text = JSON.stringify(log);
      sql.insertEvents.run(jobId, first, (log.at(-1) as JobEvent).id, text, seq);
      bytes += text.length;
      rows++;
    }
    for (const record of batch.records.values()) {
      const text = JSON.stringify(record);
      sql.putJob.run(record.id, record.createdAt, record.status, text);
      bytes += text.length;
      rows++;
    }
    for (const change of batch.changes) change(db);
    rows += batch.changes.length;
    db.exec("COMMIT");
    // A row touches a table leaf and an index leaf or two; the commit rewrites page 1 and often
    // an interior page.
    return Math.ceil(bytes / PAGE_BYTES) + 2 * rows + 2;
  } catch (error) {
    try {
      db.exec("ROLLBACK");
    } catch {
      // no transaction left to roll back
    }
    throw error;
  }
}
