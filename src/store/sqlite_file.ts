/**
 * The SQLite store's database file, open: its main connection, the lock that keeps other
 * processes off it (`data_file_lock.ts`), and the Worker that checkpoints its write-ahead log
 * (`wal_checkpointer.ts`), so that the main connection never does.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { type OpenedDatabase, openSqliteDatabase, type Statements } from "./sqlite_schema.ts";
import { type SqliteBatch, writeBatch } from "./sqlite_batch_writer.ts";
import { WalCheckpointer } from "./wal_checkpointer.ts";
import { WalIndex } from "./wal_index.ts";

/** An open database file with its lock and checkpoints; see the module documentation. */
export class SqliteFile {
  /** The main connection. */
  readonly db: DatabaseSync;
  /** None for `:memory:`, which has neither a file to guard nor a WAL. */
  readonly #lock: Deno.FsFile | undefined;
  readonly #checkpointer: WalCheckpointer | undefined;
  /** Read after commits, so checkpoints follow the WAL's real size. */
  readonly #walIndex: WalIndex | undefined;
  /** Called when commits held for a quiet checkpoint may go on (see `holdsCommits`). */
  onRelease: () => void = () => {};

  private constructor(path: string, opened: OpenedDatabase, onError: (error: unknown) => void) {
    const { db, lock } = opened;
    this.db = db;
    this.#lock = lock;
    if (lock) {
      const walIndex = this.#walIndex = WalIndex.open(path);
      this.#checkpointer = new WalCheckpointer(path, {
        walState: () => walIndex?.read(),
        onError,
        onRelease: () => this.onRelease(),
        checkpointHere: () => db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get(),
      });
    }
  }

  /**
   * Opens the file at `path` (see `openSqliteDatabase`, which throws `StoreOpenError`) and starts
   * its checkpoint worker; `onError` hears of failed checkpoints.
   */
  static open(
    path: string,
    openDatabase: ((path: string) => DatabaseSync) | undefined,
    onError: (error: unknown) => void,
  ): SqliteFile {
    return new SqliteFile(path, openSqliteDatabase(path, openDatabase), onError);
  }

  /** Whether commits must wait: a quiet checkpoint runs (see `wal_checkpointer.ts`). */
  get holdsCommits(): boolean {
    return this.#checkpointer?.holdsCommits ?? false;
  }

  /** Commits `batch` (see `writeBatch`), then tells the checkpoints how much it wrote. */
  write(sql: Statements, batch: SqliteBatch, seq: number): void {
    const pages = writeBatch(this.db, sql, batch, seq);
    this.#checkpointer?.committed(pages);
  }

  /** `null` while checkpoints succeed; else what is wrong with them. */
  health(): string | null {
    return this.#checkpointer?.health() ?? null;
  }

  /** Ends the worker, then closes the connection and releases the lock. */
  async close(): Promise<void> {
    try {
      // The worker's connection first: closing the last one copies the WAL back and removes it.
      await this.#checkpointer?.close();
    } finally {
      this.db.close();
      // After the connection: closing it while SQLite held locks on that file dropped them.
      this.#walIndex?.close();
      this.#lock?.close();
    }
  }
}
