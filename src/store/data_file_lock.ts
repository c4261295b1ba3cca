/**
 * The guard that keeps a second process off the SQLite store's file: an exclusive lock on a
 * small file beside it (`quillflow.db.lock`), held for as long as the store is open.
 *
 * The database itself is opened in SQLite's normal locking mode, so that a second connection of
 * this process (the WAL checkpoint worker) can open it too; its own locks then no longer keep
 * another process out. The operating system drops this lock when the holder exits in any way,
 * `kill -9` included, so a crash never leaves a lock that blocks the next start.
 *
 * @module
 */

/** The lock file's name: the database file's with this added. */
export const LOCK_SUFFIX = ".lock";

/**
 * Takes the exclusive lock of the database file at `path`, creating the lock file if needed.
 * Returns the open lock file (closing it releases the lock), or `undefined` when another
 * process, or another store of this one, holds it. Throws when the lock file cannot be opened.
 */
export function lockDataFile(path: string): Deno.FsFile | undefined {
  const file = Deno.openSync(path + LOCK_SUFFIX, { read: true, write: true, create: true });
  try {
    // flock on Unix, LockFileEx on Windows: per open file, so a second store of this very
    // process is refused as well.
    if (file.tryLockSync(true)) return file;
  } catch (error) {
    file.close();
    throw error;
  }
  file.close();
  return undefined;
}
