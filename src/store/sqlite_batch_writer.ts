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

/**
 * Writes `batch` in one transaction, its events placed after position `seq`; rolls back and
 * rethrows when any write fails, so the batch is all in the file or none of it.
 */
export function writeBatch(
  db: DatabaseSync,
  sql: Statements,
  batch: SqliteBatch,
  seq: number,
): void {
  // Positions are taken (by the caller) only once the transaction commits.
  try {
    db.exec("BEGIN");
    for (const id of batch.deletes) {
      sql.deleteJob.run(id);
      sql.deleteEvents.run(id);
    }
    for (const [jobId, log] of batch.events) {
      const first = (log[0] as JobEvent).id;
      seq += log.length;
      sql.insertEvents.run(jobId, first, (log.at(-1) as JobEvent).id, JSON.stringify(log), seq);
    }
    for (const record of batch.records.values()) {
      sql.putJob.run(record.id, record.createdAt, record.status, JSON.stringify(record));
    }
    for (const change of batch.changes) change(db);
    db.exec("COMMIT");
  } catch (error) {
    try {
      db.exec("ROLLBACK");
    } catch {
      // no transaction left to roll back
    }
    throw error;
  }
}
