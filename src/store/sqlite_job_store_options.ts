/**
 * The settings of the SQLite job store: when buffered writes reach the file, who hears of a
 * failed write, and how the file is opened.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";

/** Settings of a `SqliteJobStore`. */
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
