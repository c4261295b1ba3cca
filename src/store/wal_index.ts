/**
 * Reads how many frames the SQLite store's write-ahead log holds, and how many of them a
 * checkpoint has copied back, from its WAL index (the `-shm` file beside the database), so that
 * `WalCheckpointer` counts real pages instead of estimating them from each batch.
 *
 * The WAL index is what every connection of the file reads to find pages in the WAL; its layout
 * is SQLite's, documented in "The WAL-Index Format" (sqlite.org/walformat.html): two copies of a
 * 48-byte header (`mxFrame`, the frames in the WAL, at byte 16 of each), then `nBackfill` (the
 * frames copied back) at byte 96, all in the machine's byte order. A read costs one `seek` and
 * one `read` (a few microseconds); anything that does not look like that layout (another
 * version, a header being written) answers `undefined`, and the caller falls back to its
 * estimate.
 *
 * The file stays open for as long as the store: POSIX drops every lock a process holds on a
 * file when any of its descriptors of that file is closed, so closing it while SQLite holds its
 * locks on the WAL index would release them. Close it only after the database connections.
 *
 * @module
 */

/** The version number SQLite writes in the WAL index header (3.7.0's format). */
const WAL_INDEX_VERSION = 3007000;
/** The two header copies, then the checkpoint information. */
const READ_BYTES = 104;

/** What the WAL holds. */
export interface WalState {
  /** Frames (one page each) in the WAL. */
  frames: number;
  /** Frames of those already copied into the database file. */
  backfilled: number;
}

/** An open WAL index; see the module documentation. */
export class WalIndex {
  readonly #file: Deno.FsFile;
  // Uint32Array reads in the machine's byte order, which is the index's.
  readonly #words = new Uint32Array(READ_BYTES / 4);
  readonly #bytes = new Uint8Array(this.#words.buffer);

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /**
   * Opens the WAL index of the database at `path`; `undefined` when there is none to read (the
   * connection is not in WAL mode, or keeps its index in its own memory).
   */
  static open(path: string): WalIndex | undefined {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(`${path}-shm`, { read: true });
    } catch {
      return undefined;
    }
    const index = new WalIndex(file);
    if (index.read()) return index;
    file.close();
    return undefined;
  }

  /** The WAL's frames now; `undefined` when the header is not readable as expected. */
  read(): WalState | undefined {
    const bytes = this.#bytes;
    try {
      this.#file.seekSync(0, Deno.SeekMode.Start);
      let read = 0;
      while (read < READ_BYTES) {
        const n = this.#file.readSync(bytes.subarray(read));
        if (n === null || n === 0) return undefined;
        read += n;
      }
    } catch {
      return undefined;
    }
    const words = this.#words;
    // Copies that differ: a writer is between them (never after this process's own commit).
    for (let i = 0; i < 12; i++) if (words[i] !== words[i + 12]) return undefined;
    // isInit (byte 12) is 1 once a connection built the index.
    if (words[0] !== WAL_INDEX_VERSION || bytes[12] !== 1) return undefined;
    const frames = words[4] as number;
    const backfilled = words[24] as number;
    return backfilled <= frames ? { frames, backfilled } : { frames, backfilled: 0 };
  }

  /** Closes the file: only after the database's connections (see the module documentation). */
  close(): void {
    this.#file.close();
  }
}
